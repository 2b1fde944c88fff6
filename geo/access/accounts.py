"""User accounts for the district portal: argon2id password hashes and API tokens, and every rule about them.

A fresh install has no account at all; an administrator creates them with
``stationmap users add``. Where they are kept is a storage's business (``geo.access.records``):
one JSON file by default (hashes only, replaced atomically under an inter-process lock, mode
0600), or the PostgreSQL store's tables (``geo.registry.state_pg``). Each of Chongqing's 38 district union
offices gets one active account; its ``actor`` may change that district's stations and no other.

Passwords are argon2id: people choose them, so each guess must be expensive. API tokens
(``smt_<id>_<secret>``) carry their own id and a 256-bit random secret, which nobody can
guess, so a slow hash buys nothing and would let anyone spend the server's CPU with made-up
tokens. A token is found by its id and its secret checked against HMAC-SHA256 under a server
key (``token_digest``; constant-time compare): a made-up token costs microseconds. Tokens
issued before this scheme (argon2 hashes) are no longer accepted: re-issue them with
``stationmap users token issue NAME``.

Sign-out, a password change or reset and disabling all bump the account's
``session_version`` (the per-account session generation), which every request checks, so
a copied session cookie dies on the server, not only in the browser.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from geo import schema
from geo.access.permissions import ROLES
from geo.access.records import AccountRecords, FileAccountRecords, Token, User, load_token_key  # noqa: F401 - re-exported
from geo.errors import ConflictError, NotFoundError, Problem, ValidationError
from geo.hours import CHONGQING_TZ
from geo.messages import Text, clipped

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
TOKEN_PREFIX = "smt"  # noqa: S105 - a public marker, not a secret
TOKEN_PATTERN = re.compile(r"^smt_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{20,100})$")
MIN_PASSWORD_LENGTH = 12
# argon2 of a megabyte-long "password" is a cheap denial of service; nobody types more.
MAX_PASSWORD_LENGTH = 1024
MAX_LABEL_LENGTH = 80
TOKEN_HASH_SCHEME = "hmac-sha256"  # noqa: S105 - a scheme name, not a secret
_DUMMY_HASHES: dict[tuple, str] = {}


def _now() -> str:
    return datetime.now(CHONGQING_TZ).replace(microsecond=0).isoformat()


# -- token secrets (pure: no file I/O) ------------------------------------------------


def token_digest(key: bytes, token_id: str, secret: str) -> str:
    """What the accounts file keeps of a token: ``hmac-sha256$<hex>`` of its id and secret under ``key``."""
    mac = hmac.new(key, f"{token_id}.{secret}".encode(), hashlib.sha256).hexdigest()
    return f"{TOKEN_HASH_SCHEME}${mac}"


def token_matches(key: bytes, stored: str, token_id: str, secret: str) -> bool:
    """Constant-time check of a presented secret against its stored digest.

    Digests of any other scheme (the argon2 hashes of tokens issued before) never match.
    """
    if not stored.startswith(TOKEN_HASH_SCHEME + "$"):
        return False
    return hmac.compare_digest(stored.encode(), token_digest(key, token_id, secret).encode())


def generate_password() -> str:
    """A random password of 20 URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)


class AccountStore:
    """Accounts: every rule (names, roles, one active account per district, hashing, sessions), over a
    storage that only stores and fetches (``geo.access.records.AccountRecords``).

    Parameters
    ----------
    path : path of the accounts file; it need not exist yet (no accounts). Used by the default
        storage (``FileAccountRecords``) only.
    districts : geo.districts.Districts, optional
        When given, a district account's code must be one of its 38 districts;
        otherwise only the code's shape (``50xxxx``) is checked.
    hasher : argon2.PasswordHasher, optional
        Defaults to argon2-cffi's argon2id parameters (RFC 9106 low-memory profile).
        Tests pass a cheaper one.
    token_key : bytes, optional
        The HMAC key for token secrets; by default the storage's (``<accounts file>.token_key``
        for the file, a shared secret in the database) so the CLI that issues tokens and the server agree.
    records : AccountRecords, optional
        Where accounts live (the store's ``state.accounts(path)``); default the JSON file at ``path``.
    """

    def __init__(self, path: str | Path | None = None, districts=None, hasher: PasswordHasher | None = None,
                 token_key: bytes | None = None, records: AccountRecords | None = None):
        self.records = records or FileAccountRecords(path)
        self.path = Path(path) if path is not None else None
        self.districts = districts
        self.hasher = hasher or PasswordHasher()
        self._token_key = token_key

    @property
    def token_key(self) -> bytes:
        if self._token_key is None:
            self._token_key = self.records.token_key()
        return self._token_key

    # -- reading ----------------------------------------------------------------

    def _load(self) -> dict[str, User]:
        return self.records.users()

    def list(self) -> list[User]:
        """All accounts, sorted by name."""
        return sorted(self._load().values(), key=lambda u: u.name)

    def get(self, name: str) -> User:
        """The account called ``name``; ``NotFoundError`` if there is none."""
        user = self.records.get(name)
        if user is None:
            raise NotFoundError(Text("acct.no_account", name=name))
        return user

    # -- writing ----------------------------------------------------------------

    def _write(self, change):
        """Under the storage's writers' lock: re-read, apply ``change(users) -> result``, store atomically."""
        return self.records.write(change)

    def _update(self, name: str, evolve) -> User:
        """Replace account ``name`` with ``evolve(current user)`` under the lock."""

        def change(users):
            if name not in users:
                raise NotFoundError(Text("acct.no_account", name=name))
            users[name] = evolve(users[name])
            return users[name]

        return self._write(change)

    def add(self, name: str, role: str, district_adcode: str | None = None) -> tuple[User, str]:
        """Create an account with a random password; returns ``(user, password)``. Show the password once."""
        district_adcode = district_adcode or None
        problems = self._account_problems(name, role, district_adcode)
        if problems:
            raise ValidationError(problems)
        password = generate_password()
        password_hash = self.hasher.hash(password)

        def change(users):
            if name in users:
                raise ConflictError(Text("acct.exists", name=name))
            if role == "district":
                self._require_no_active_district_account(users, district_adcode, except_name=None)
            users[name] = User(name=name, role=role, district_adcode=district_adcode, password_hash=password_hash,
                               created_at=_now())
            return users[name]

        return self._write(change), password

    def _account_problems(self, name, role, district_adcode) -> list[Problem]:
        problems = []
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            problems.append(Problem("name", Text("acct.bad_name", name=clipped(name)), Text("acct.name_hint")))
        if role not in ROLES:
            problems.append(Problem("role", Text("acct.bad_role", role=clipped(role)), Text("hint.one_of", choices=", ".join(ROLES))))
        elif role == "district":
            if not district_adcode:
                problems.append(Problem("district", Text("acct.needs_district"), Text("acct.district_hint")))
            elif not self._known_adcode(district_adcode):
                problems.append(Problem("district", Text("acct.bad_district", code=clipped(district_adcode))))
        elif district_adcode:
            problems.append(Problem("district", Text("acct.district_only", role=role)))
        return problems

    def _known_adcode(self, adcode) -> bool:
        if not isinstance(adcode, str) or not schema.ADCODE_PATTERN.match(adcode):
            return False
        return self.districts is None or adcode in self.districts.by_adcode

    def _district_label(self, adcode: str) -> str:
        if self.districts is not None and adcode in self.districts.by_adcode:
            return f"{adcode} ({self.districts.name(adcode)})"
        return adcode

    def _require_no_active_district_account(self, users, adcode, except_name) -> None:
        for other in users.values():
            if other.role == "district" and other.district_adcode == adcode and not other.disabled and other.name != except_name:
                raise ConflictError(Text("acct.district_taken", district=self._district_label(adcode), name=other.name))

    def set_password(self, name: str, password: str) -> User:
        """Set a chosen password (at least 12 characters). Invalidates the user's web sessions."""
        if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationError(Problem("password", Text("acct.password_short", n=MIN_PASSWORD_LENGTH)))
        if len(password) > MAX_PASSWORD_LENGTH:
            raise ValidationError(Problem("password", Text("acct.password_long", n=MAX_PASSWORD_LENGTH)))
        password_hash = self.hasher.hash(password)
        return self._update(name, lambda u: replace(u, password_hash=password_hash, session_version=u.session_version + 1))

    def reset_password(self, name: str) -> str:
        """Give the account a new random password and return it (show it once)."""
        password = generate_password()
        self.set_password(name, password)
        return password

    def end_sessions(self, name: str) -> User:
        """Sign ``name`` out everywhere: bump the session generation every request checks."""
        return self._update(name, lambda u: replace(u, session_version=u.session_version + 1))

    def disable(self, name: str) -> User:
        """Refuse logins and tokens for this account (tokens are kept, inactive). Ends its web sessions."""
        return self._update(name, lambda u: replace(u, disabled=True, session_version=u.session_version + 1))

    def enable(self, name: str) -> User:
        """Allow the account again, unless its district already has another active account."""

        def change(users):
            if name not in users:
                raise NotFoundError(Text("acct.no_account", name=name))
            user = users[name]
            if user.role == "district":
                self._require_no_active_district_account(users, user.district_adcode, except_name=name)
            users[name] = replace(user, disabled=False)
            return users[name]

        return self._write(change)

    # -- passwords ----------------------------------------------------------------

    def _dummy(self) -> str:
        """A hash with this hasher's parameters to verify against when the name or token id is unknown."""
        key = (self.hasher.time_cost, self.hasher.memory_cost, self.hasher.parallelism, self.hasher.hash_len, self.hasher.type)
        if key not in _DUMMY_HASHES:
            _DUMMY_HASHES[key] = self.hasher.hash(secrets.token_urlsafe(16))
        return _DUMMY_HASHES[key]

    def _verify(self, password_hash: str, secret: str) -> bool:
        try:
            return self.hasher.verify(password_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def authenticate(self, name: str, password: str) -> User | None:
        """The account if ``password`` is right and the account is enabled, else ``None``.

        Unknown names are verified against a dummy hash, so the answer takes about as
        long whether or not the account exists.
        """
        if not isinstance(name, str) or not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            return None
        user = self.records.get(name.strip().lower())
        if user is None:
            self._verify(self._dummy(), password)
            return None
        if not self._verify(user.password_hash, password) or user.disabled:
            return None
        if self.hasher.check_needs_rehash(user.password_hash):
            new_hash = self.hasher.hash(password)
            self._update(user.name, lambda u: replace(u, password_hash=new_hash) if u.password_hash == user.password_hash else u)
        return user

    # -- API tokens -----------------------------------------------------------------

    def issue_token(self, name: str, label: str = "") -> str:
        """A new API token ``smt_<id>_<secret>`` for ``name``; only its hash is stored, so show it once."""
        label = (label or "").strip()
        if len(label) > MAX_LABEL_LENGTH:
            raise ValidationError(Problem("label", Text("prop.too_long", n=len(label), max=MAX_LABEL_LENGTH)))
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        token = Token(id=token_id, hash=token_digest(self.token_key, token_id, secret), created_at=_now(), label=label)

        self._update(name, lambda u: replace(u, tokens=(*u.tokens, token)))
        return f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def revoke_token(self, name: str, token_id: str | None = None) -> int:
        """Revoke one token by id, or all of ``name``'s tokens when ``token_id`` is None; returns how many."""

        def change(users):
            if name not in users:
                raise NotFoundError(Text("acct.no_account", name=name))
            user = users[name]
            keep = tuple(t for t in user.tokens if token_id is not None and t.id != token_id)
            if token_id is not None and len(keep) == len(user.tokens):
                raise NotFoundError(Text("acct.no_token", name=name, token=token_id))
            users[name] = replace(user, tokens=keep)
            return len(user.tokens) - len(keep)

        return self._write(change)

    def verify_token(self, token: str) -> User | None:
        """The enabled account owning ``token``, or ``None``.

        One dictionary lookup by the token's id and one HMAC-SHA256: a few microseconds
        whether the token is real, revoked or made up, and never an argon2 computation.
        The accounts file is re-read when it changes, so a revocation counts at once.
        """
        if not isinstance(token, str):
            return None
        match = TOKEN_PATTERN.match(token.strip())
        if not match:
            return None
        found = self.records.by_token(match["id"])
        if found is None:
            return None
        user, stored = found
        if user is None or user.disabled or not token_matches(self.token_key, stored.hash, match["id"], match["secret"]):
            return None
        return user


def default_accounts_path() -> Path:
    """``$STATIONMAP_ACCOUNTS`` or ``data/accounts.json``."""
    from geo.paths import DATA_DIR

    return Path(os.environ.get("STATIONMAP_ACCOUNTS", DATA_DIR / "accounts.json"))
