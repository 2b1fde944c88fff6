"""Fixtures for the portal, auth and write-API tests: accounts of every role, an app that uses them, signed-in clients.

Load with ``pytest_plugins = ("tests.portal_fixtures",)``; constants and helpers are in
``tests.portal_helpers``. Accounts use a cheap argon2 hasher so dozens of sign-ins stay
fast; every account has the same known password, so a test can sign in as anyone.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

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


ACCOUNT_FILES = ("accounts.json", "accounts.json.token_key")


@pytest.fixture(scope="session")
def prepared_accounts(tmp_path_factory, districts) -> tuple[Path, Path, Tokens]:
    """The accounts (folder 1), and the same after the tokens are issued, one revoked and shapingba
    disabled (folder 2): made once (five password hashes, twenty-odd writes); each test gets a copy."""
    made = tmp_path_factory.mktemp("accounts")
    store = AccountStore(made / "accounts.json", districts, hasher=CHEAP_HASHER)
    for name, (role, district) in ACCOUNTS.items():
        store.add(name, role, district)
        store.set_password(name, PASSWORD)
    with_tokens = tmp_path_factory.mktemp("accounts-with-tokens")
    shutil.copy(made / "accounts.json", with_tokens / "accounts.json")
    store = AccountStore(with_tokens / "accounts.json", districts, hasher=CHEAP_HASHER)
    by_name = {name: store.issue_token(name, label="tests") for name in ACCOUNTS}
    revoked = store.issue_token("yuzhong", label="old laptop")
    revoked_id = revoked.split("_")[1]
    store.revoke_token("yuzhong", revoked_id)
    store.disable("shapingba")
    return made, with_tokens, Tokens(by_name, revoked)


@pytest.fixture
def accounts(tmp_path, districts, prepared_accounts) -> AccountStore:
    made, _, _ = prepared_accounts
    shutil.copy(made / "accounts.json", tmp_path / "accounts.json")  # with its mode (0600)
    return AccountStore(tmp_path / "accounts.json", districts, hasher=CHEAP_HASHER)


@pytest.fixture
def tokens(accounts, prepared_accounts) -> Tokens:
    """The tokens of every account (``accounts`` now holds them; the store sees the new file at once)."""
    _, with_tokens, tokens = prepared_accounts
    for name in ACCOUNT_FILES:  # the token key is made with the first token
        shutil.copy(with_tokens / name, accounts.path.with_name(name))
    return tokens


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
