"""Accounts: argon2id hashes only on disk, one active account per district, tokens, and the `users` CLI."""

from __future__ import annotations

import json
import os
import stat

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from geo.access.accounts import AccountStore, token_digest
from geo.access.permissions import Actor
from geo.errors import ConflictError, NotFoundError, RegistryUnavailableError, ValidationError
from stationmap.cli import main

# Cheap argon2id parameters keep the tests fast; the defaults are checked once below.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def accounts(tmp_path, districts):
    return AccountStore(tmp_path / "accounts.json", districts=districts, hasher=FAST)


def test_fresh_store_has_no_accounts_and_no_file(accounts):
    assert accounts.list() == []
    assert not accounts.path.exists()
    assert accounts.authenticate("admin", "admin") is None
    assert accounts.authenticate("admin", "") is None


def test_add_authenticate_and_nothing_in_plain_text(accounts):
    user, password = accounts.add("yuzhong", "district", "500103")
    assert len(password) >= 16
    assert accounts.authenticate("yuzhong", password) == user
    assert accounts.authenticate("YuZhong ", password) == user  # names are lower-case
    assert accounts.authenticate("yuzhong", password + "x") is None
    raw = accounts.path.read_text()
    assert password not in raw
    assert json.loads(raw)["users"][0]["password_hash"].startswith("$argon2id$")
    assert stat.S_IMODE(os.stat(accounts.path).st_mode) == 0o600


def test_user_actor_matches_permissions(accounts):
    user, _ = accounts.add("yuzhong", "district", "500103")
    admin, _ = accounts.add("city", "admin")
    assert user.actor == Actor("yuzhong", "district", "500103")
    assert admin.actor.can_write("500229") and not user.actor.can_write("500105")


@pytest.mark.parametrize(
    ("name", "role", "district", "message"),
    [
        ("Bad Name", "district", "500103", "not a valid account name"),
        ("x", "admin", None, "not a valid account name"),
        ("ok-name", "boss", None, "unknown role"),
        ("ok-name", "district", None, "needs its district code"),
        ("ok-name", "district", "500199", "not one of Chongqing's 38 district codes"),
        ("ok-name", "district", "110101", "not one of Chongqing's 38 district codes"),
        ("ok-name", "planner", "500103", "only district accounts have a district code"),
    ],
)
def test_add_rejects_bad_accounts(accounts, name, role, district, message):
    with pytest.raises(ValidationError, match=message):
        accounts.add(name, role, district)
    assert not accounts.path.exists()


def test_one_active_account_per_district(accounts):
    accounts.add("yuzhong", "district", "500103")
    with pytest.raises(ConflictError, match=r"500103 \(渝中区\) already has an active account 'yuzhong'"):
        accounts.add("yuzhong2", "district", "500103")
    with pytest.raises(ConflictError, match="already exists"):
        accounts.add("yuzhong", "district", "500105")
    accounts.disable("yuzhong")
    accounts.add("yuzhong2", "district", "500103")
    with pytest.raises(ConflictError, match="already has an active account 'yuzhong2'"):
        accounts.enable("yuzhong")
    accounts.add("jiangbei", "district", "500105")  # other districts are unaffected


def test_disabled_user_cannot_authenticate_or_use_tokens(accounts):
    user, password = accounts.add("yuzhong", "district", "500103")
    token = accounts.issue_token("yuzhong", label="import")
    assert accounts.verify_token(token).name == user.name
    disabled = accounts.disable("yuzhong")
    assert disabled.session_version == user.session_version + 1
    assert accounts.authenticate("yuzhong", password) is None
    assert accounts.verify_token(token) is None
    accounts.enable("yuzhong")
    assert accounts.authenticate("yuzhong", password) is not None


def test_token_issue_verify_revoke(accounts):
    accounts.add("yuzhong", "district", "500103")
    first = accounts.issue_token("yuzhong", label="nightly import")
    second = accounts.issue_token("yuzhong")
    assert first.startswith("smt_") and first != second
    assert first.split("_", 2)[2] not in accounts.path.read_text()  # only the hash is stored
    assert accounts.verify_token(first).name == "yuzhong"
    first_id = first.split("_")[1]
    assert [t.label for t in accounts.get("yuzhong").tokens] == ["nightly import", ""]
    assert accounts.revoke_token("yuzhong", first_id) == 1
    assert accounts.verify_token(first) is None
    assert accounts.verify_token(second) is not None
    with pytest.raises(NotFoundError):
        accounts.revoke_token("yuzhong", first_id)
    assert accounts.revoke_token("yuzhong") == 1
    assert accounts.verify_token(second) is None


@pytest.mark.parametrize("token", ["", "smt_", "Bearer x", "smt_zzzzzzzzzzzz_" + "a" * 43, "smt_0123456789ab_" + "a" * 43, None, 42])
def test_malformed_or_unknown_tokens_are_refused(accounts, token):
    accounts.add("yuzhong", "district", "500103")
    accounts.issue_token("yuzhong")
    assert accounts.verify_token(token) is None


def test_tampered_token_secret_is_refused(accounts):
    accounts.add("yuzhong", "district", "500103")
    token = accounts.issue_token("yuzhong")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert accounts.verify_token(flipped) is None


def test_another_process_revoking_is_seen(tmp_path, districts):
    one = AccountStore(tmp_path / "a.json", districts=districts, hasher=FAST)
    two = AccountStore(tmp_path / "a.json", districts=districts, hasher=FAST)
    one.add("yuzhong", "district", "500103")
    token = one.issue_token("yuzhong")
    assert two.verify_token(token) is not None
    one.revoke_token("yuzhong")
    assert two.verify_token(token) is None


def test_reset_and_set_password(accounts):
    _, old = accounts.add("yuzhong", "district", "500103")
    new = accounts.reset_password("yuzhong")
    assert new != old
    assert accounts.authenticate("yuzhong", old) is None and accounts.authenticate("yuzhong", new) is not None
    with pytest.raises(ValidationError, match="at least 12"):
        accounts.set_password("yuzhong", "short")
    accounts.set_password("yuzhong", "correct horse battery staple")
    assert accounts.authenticate("yuzhong", "correct horse battery staple") is not None
    assert accounts.get("yuzhong").session_version == 2
    with pytest.raises(NotFoundError):
        accounts.reset_password("nobody")


class CountingHasher(PasswordHasher):
    def __init__(self):
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash, password):  # noqa: A002 - argon2's parameter name
        self.verified += 1
        return super().verify(hash, password)


def test_unknown_user_pays_for_a_hash_but_a_made_up_token_never_does(tmp_path):
    hasher = CountingHasher()
    store = AccountStore(tmp_path / "a.json", hasher=hasher)
    store.add("city", "admin")
    assert store.authenticate("nobody", "whatever-password") is None
    assert hasher.verified == 1
    real = store.issue_token("city")
    token_id = real.split("_")[1]
    # Made up entirely, a real id with a made-up secret, and the real token: no argon2 at all.
    assert store.verify_token("smt_0123456789ab_" + "a" * 43) is None
    assert store.verify_token(f"smt_{token_id}_" + "a" * 43) is None
    assert store.verify_token(real).name == "city"
    assert hasher.verified == 1


def test_tokens_are_stored_as_keyed_hmac_and_old_argon2_tokens_are_refused(tmp_path):
    store = AccountStore(tmp_path / "a.json", hasher=FAST, token_key=b"k" * 32)
    store.add("city", "admin")
    token = store.issue_token("city")
    _, token_id, secret = token.split("_", 2)
    stored = json.loads(store.path.read_text())["users"][0]["tokens"][0]["hash"]
    assert stored == token_digest(b"k" * 32, token_id, secret) and stored.startswith("hmac-sha256$")
    # Another key (another server's) does not accept it.
    assert AccountStore(store.path, hasher=FAST, token_key=b"x" * 32).verify_token(token) is None
    # A token issued before the change (argon2 hash of the secret) must be re-issued.
    raw = store.path.read_text().replace(stored, FAST.hash(secret))
    store.path.write_text(raw)
    assert store.verify_token(token) is None


def test_default_token_key_is_kept_beside_the_accounts_file_and_shared(tmp_path):
    one = AccountStore(tmp_path / "a.json", hasher=FAST)
    one.add("city", "admin")
    token = one.issue_token("city")
    key_file = tmp_path / "a.json.token_key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert AccountStore(tmp_path / "a.json", hasher=FAST).verify_token(token).name == "city"


def test_end_sessions_bumps_the_session_generation(accounts):
    user, _ = accounts.add("yuzhong", "district", "500103")
    assert accounts.end_sessions("yuzhong").session_version == user.session_version + 1


def test_default_hasher_is_argon2id_with_real_cost(tmp_path):
    store = AccountStore(tmp_path / "a.json")
    user, password = store.add("city", "admin")
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3")
    assert store.authenticate("city", password) == user


def test_corrupt_accounts_file_is_not_overwritten(tmp_path):
    path = tmp_path / "accounts.json"
    path.write_text("{not json")
    store = AccountStore(path, hasher=FAST)
    with pytest.raises(RegistryUnavailableError, match="corrupt"):
        store.list()
    with pytest.raises(RegistryUnavailableError):
        store.add("city", "admin")
    assert path.read_text() == "{not json"


# -- CLI -----------------------------------------------------------------------------------

COMMANDS = [["users"], ["users", "add"], ["users", "list"], ["users", "disable"], ["users", "enable"],
            ["users", "reset-password"], ["users", "token"], ["users", "token", "issue"], ["users", "token", "revoke"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_users_command_has_help_with_an_example(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and "stationmap users" in result.output


def test_cli_round_trip(tmp_path, monkeypatch):
    path = tmp_path / "accounts.json"
    monkeypatch.setenv("STATIONMAP_ACCOUNTS", str(path))
    monkeypatch.setenv("LANG", "en_US.UTF-8")  # the English wording of the errors below
    runner = CliRunner()
    result = runner.invoke(main, ["users", "list"])
    assert result.exit_code == 0 and "no accounts yet" in result.output
    result = runner.invoke(main, ["users", "add", "--role", "district", "--district", "500103", "yuzhong"])
    assert result.exit_code == 0, result.output
    password = result.output.strip().rsplit(" ", 1)[1]
    assert AccountStore(path).authenticate("yuzhong", password) is not None
    result = runner.invoke(main, ["users", "add", "--role", "district", "--district", "500103", "other"])
    assert result.exit_code == 1 and "already has an active account" in result.output
    result = runner.invoke(main, ["users", "add", "--role", "district", "--district", "999999", "bad"])
    assert result.exit_code == 1 and "38 district codes" in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["users", "token", "issue", "yuzhong", "--label", "nightly"])
    token = result.output.strip().rsplit(" ", 1)[1]
    assert AccountStore(path).verify_token(token) is not None
    result = runner.invoke(main, ["users", "list", "--json"])
    listed = json.loads(result.output)
    assert listed[0]["name"] == "yuzhong" and listed[0]["tokens"][0]["label"] == "nightly"
    assert "hash" not in result.output
    result = runner.invoke(main, ["users", "token", "revoke", "yuzhong", "--id", token.split("_")[1]])
    assert result.exit_code == 0 and "revoked 1" in result.output
    assert AccountStore(path).verify_token(token) is None
    result = runner.invoke(main, ["users", "reset-password", "yuzhong"])
    new_password = result.output.strip().rsplit(" ", 1)[1]
    assert AccountStore(path).authenticate("yuzhong", new_password) is not None
    assert runner.invoke(main, ["users", "disable", "yuzhong"]).exit_code == 0
    assert AccountStore(path).authenticate("yuzhong", new_password) is None
    assert runner.invoke(main, ["users", "enable", "yuzhong"]).exit_code == 0
    result = runner.invoke(main, ["users", "disable", "nobody"])
    assert result.exit_code == 1 and "no account called 'nobody'" in result.output


def test_cli_accounts_option_beats_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STATIONMAP_ACCOUNTS", str(tmp_path / "env.json"))
    result = CliRunner().invoke(main, ["users", "add", "--role", "planner", "--accounts", str(tmp_path / "opt.json"), "plan"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "opt.json").exists() and not (tmp_path / "env.json").exists()


def test_in_place_edit_with_same_size_and_mtime_is_seen(accounts):
    """Verified tokens are remembered per file content, not per stat(): any change forgets them."""
    accounts.add("yuzhong", "district", "500103")
    token = accounts.issue_token("yuzhong")
    assert accounts.verify_token(token) is not None
    st = os.stat(accounts.path)
    raw = accounts.path.read_text()
    stored_hash = json.loads(raw)["users"][0]["tokens"][0]["hash"]
    broken = raw.replace(stored_hash, stored_hash[:-2] + ("AA" if not stored_hash.endswith("AA") else "BB"))
    assert len(broken) == len(raw)
    accounts.path.write_text(broken)
    os.utime(accounts.path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert accounts.verify_token(token) is None
