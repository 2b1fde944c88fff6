"""Fixtures for the portal, auth and write-API tests: accounts of every role, an app that uses them, signed-in clients.

Load with ``pytest_plugins = ("tests.portal_fixtures",)``; constants and helpers are in
``tests.portal_helpers``. Accounts use a cheap argon2 hasher so dozens of sign-ins stay
fast; every account has the same known password, so a test can sign in as anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from geo.access.accounts import AccountStore
from tests.conftest import make_test_app
from tests.portal_helpers import ACCOUNTS, CHEAP_HASHER, PASSWORD, login


@dataclass
class Tokens:
    by_name: dict[str, str]
    revoked: str  # a token of yuzhong's that was revoked

    def __getitem__(self, name: str) -> str:
        return self.by_name[name]


@pytest.fixture
def accounts(tmp_path, districts) -> AccountStore:
    store = AccountStore(tmp_path / "accounts.json", districts, hasher=CHEAP_HASHER)
    for name, (role, district) in ACCOUNTS.items():
        store.add(name, role, district)
        store.set_password(name, PASSWORD)
    return store


@pytest.fixture
def tokens(accounts) -> Tokens:
    by_name = {name: accounts.issue_token(name, label="tests") for name in ACCOUNTS}
    revoked = accounts.issue_token("yuzhong", label="old laptop")
    revoked_id = revoked.split("_")[1]
    accounts.revoke_token("yuzhong", revoked_id)
    accounts.disable("shapingba")
    return Tokens(by_name, revoked)


@pytest.fixture
def portal_app(registry_path, tmp_path, accounts, tokens):
    return make_test_app(registry_path, tmp_path, ACCOUNTS=accounts, UPLOAD_STASH_DIR=str(tmp_path / "stash"))


@pytest.fixture
def anon(portal_app):
    return portal_app.test_client()


@pytest.fixture
def signed_in(portal_app):
    """``signed_in("yuzhong")`` → a test client with a live session for that account."""

    def make(name: str):
        client = portal_app.test_client()
        response = login(client, name)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return make
