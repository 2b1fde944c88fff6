"""Where accounts are kept: the ``AccountRecords`` storage contract and the JSON file it has always been.

``geo.access.accounts.AccountStore`` holds every rule (names, roles, one active account per
district, hashing, the session generation); a storage only stores and fetches, atomically:

- ``users()``: every account as stored now; ``get(name)``; ``by_token(token_id)``;
- ``write(change)``: under the writers' lock, read the accounts, let ``change(users)`` edit the
  dict in place, and store the result in one atomic step (or nothing if ``change`` raises);
- ``token_key()``: the HMAC key token digests are made with, made once and shared by every process.

The PostgreSQL storage is ``geo.registry.state_pg.PostgresAccountRecords``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock

from geo.access.permissions import Actor
from geo.errors import RegistryUnavailableError
from geo.fileio import ProcessFileLock, atomic_write_bytes, create_once, remove_orphan_temp_files

FILE_FORMAT = 1


@dataclass(frozen=True)
class Token:
    """An API token's public part; the secret is shown once at issue and only its hash is kept."""

    id: str
    hash: str = field(repr=False)
    created_at: str = ""
    label: str = ""

    def public(self) -> dict:
        return {"id": self.id, "created_at": self.created_at, "label": self.label}


@dataclass(frozen=True)
class User:
    """One account. ``session_version`` grows when the password changes or the account is
    disabled, so a web session can record it at login and be refused once it is stale."""

    name: str
    role: str
    district_adcode: str | None = None
    disabled: bool = False
    password_hash: str = field(default="", repr=False)
    tokens: tuple[Token, ...] = field(default=(), repr=False)
    created_at: str = ""
    session_version: int = 0

    @property
    def actor(self) -> Actor:
        """The :class:`geo.access.permissions.Actor` this account writes as."""
        return Actor(name=self.name, role=self.role, district_adcode=self.district_adcode)

    def public(self) -> dict:
        """Everything but the hashes: for listings, JSON and templates."""
        return {
            "name": self.name, "role": self.role, "district_adcode": self.district_adcode,
            "disabled": self.disabled, "created_at": self.created_at,
            "tokens": [t.public() for t in self.tokens],
        }

    def to_record(self) -> dict:
        return {
            "name": self.name, "role": self.role, "district_adcode": self.district_adcode,
            "disabled": self.disabled, "password_hash": self.password_hash,
            "tokens": [{"id": t.id, "hash": t.hash, "created_at": t.created_at, "label": t.label} for t in self.tokens],
            "created_at": self.created_at, "session_version": self.session_version,
        }

    @classmethod
    def from_record(cls, record: dict) -> User:
        return cls(
            name=record["name"], role=record["role"], district_adcode=record.get("district_adcode"),
            disabled=bool(record.get("disabled", False)), password_hash=record["password_hash"],
            tokens=tuple(Token(tok["id"], tok["hash"], tok.get("created_at", ""), tok.get("label", ""))
                         for tok in record.get("tokens", [])),
            created_at=record.get("created_at", ""), session_version=int(record.get("session_version", 0)),
        )


class AccountRecords(ABC):
    """Storage of accounts and their tokens (see the module docstring)."""

    label: str = ""

    @abstractmethod
    def users(self) -> dict:
        """{name: User} as stored now (another process's write counts at once)."""

    def get(self, name: str):
        """The stored ``User`` called ``name``, or None."""
        return self.users().get(name)

    def by_token(self, token_id: str):
        """``(User, Token)`` owning the token with this id, or None."""
        for user in self.users().values():
            for token in user.tokens:
                if token.id == token_id:
                    return user, token
        return None

    @abstractmethod
    def write(self, change):
        """Apply ``change(users) -> result`` to the current accounts under the writers' lock and store them."""

    @abstractmethod
    def token_key(self) -> bytes:
        """The token HMAC key (32 random bytes), made on first use and shared."""


def load_token_key(path: Path) -> bytes:
    """The server's token key kept in ``path`` (32 random bytes, hex, mode 0600), made on first use.

    Every process serving the same accounts file shares it; losing it invalidates every token.
    """
    return bytes.fromhex(create_once(path, secrets.token_bytes(32).hex()))


class FileAccountRecords(AccountRecords):
    """Accounts in one JSON file (mode 0600), replaced atomically under an inter-process lock; the token
    key in ``<file>.token_key`` beside it. The file is small, so it is read on every call and parsed
    again only when its bytes changed: a revocation by another process counts at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.label = str(self.path)
        self.lock = ProcessFileLock(str(self.path) + ".lock", timeout=30)
        self._cache_lock = Lock()
        self._cache: tuple[object, dict, dict] | None = None  # (digest, users, {token id: (user, token)})

    def _read_bytes(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RegistryUnavailableError(f"{self.path}: cannot read the accounts file ({exc.strerror})") from exc

    def _parse(self, raw: bytes) -> dict:
        try:
            data = json.loads(raw.decode("utf-8"))
            return {r["name"]: User.from_record(r) for r in data["users"]}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RegistryUnavailableError(f"{self.path}: the accounts file is corrupt and will not be overwritten ({exc})") from exc

    def _loaded(self) -> tuple[dict, dict]:
        raw = self._read_bytes()
        digest = hashlib.blake2b(raw, digest_size=32).digest() if raw is not None else None
        with self._cache_lock:
            if self._cache is None or self._cache[0] != digest:
                users = self._parse(raw) if raw is not None else {}
                self._cache = (digest, users, {t.id: (u, t) for u in users.values() for t in u.tokens})
            return self._cache[1], self._cache[2]

    def users(self) -> dict:
        return self._loaded()[0]

    def by_token(self, token_id: str):
        return self._loaded()[1].get(token_id)

    def write(self, change):
        with self.lock:
            remove_orphan_temp_files(self.path)
            raw = self._read_bytes()
            users = self._parse(raw) if raw is not None else {}
            result = change(users)
            body = {"format": FILE_FORMAT, "users": [users[n].to_record() for n in sorted(users)]}
            # mkstemp creates the temp file 0600 and os.replace keeps that mode.
            atomic_write_bytes(self.path, (json.dumps(body, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
        return result

    def token_key(self) -> bytes:
        return load_token_key(Path(str(self.path) + ".token_key"))
