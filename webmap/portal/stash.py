"""Checked-but-not-committed uploads, kept on disk between the portal's dry run and its commit.

The dry run saves the file's bytes under a random token with who uploaded it, the CRS
and the SHA-256 of the bytes; the commit claims the token (an atomic rename, so a
double-clicked button cannot commit twice), re-reads the same bytes and checks them
again against the registry as it is *then*. Files live in a private directory
(mode 0700) that every worker process can reach, and expire after ``ttl_s``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
import time
from pathlib import Path

from geo.access.permissions import Actor

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")
DEFAULT_TTL_S = 2 * 3600


class UploadStash:
    """Dry-run uploads by token.

    Parameters
    ----------
    directory : where to keep them; created 0700 if missing, refused if it is a symlink
        or owned by another user (a shared /tmp must not let anyone plant files).
    ttl_s : seconds a dry run stays committable.
    """

    def __init__(self, directory: str | Path | None = None, ttl_s: int = DEFAULT_TTL_S):
        self.directory = Path(directory or Path(tempfile.gettempdir()) / f"stationmap-uploads-{os.getuid()}")
        self.ttl_s = ttl_s

    def _ready_directory(self) -> Path:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(self.directory)
        if not os.path.isdir(self.directory) or os.path.islink(self.directory) or info.st_uid != os.getuid():
            raise PermissionError(f"{self.directory}: not a private directory of this user")
        return self.directory

    def save(self, actor: Actor, filename: str, crs: str, raw: bytes, fingerprint: str) -> str:
        """Keep one dry run; returns its token."""
        directory = self._ready_directory()
        self._expire(directory)
        token = secrets.token_urlsafe(24)
        meta = {"actor": [actor.name, actor.role, actor.district_adcode], "filename": filename, "crs": crs,
                "sha256": hashlib.sha256(raw).hexdigest(), "fingerprint": fingerprint, "saved_at": time.time()}
        _write_private(directory / f"{token}.bin", raw)
        _write_private(directory / f"{token}.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        return token

    def claim(self, token: str, actor: Actor) -> tuple[dict, bytes] | None:
        """Take a dry run out of the stash: ``(meta, raw bytes)``, or ``None`` if the token is
        unknown, expired, already claimed, tampered with, or belongs to another account."""
        if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
            return None
        directory = self._ready_directory()
        meta_path, raw_path = directory / f"{token}.json", directory / f"{token}.bin"
        try:
            meta = json.loads(meta_path.read_bytes())
        except (OSError, ValueError):
            return None
        if meta.get("actor") != [actor.name, actor.role, actor.district_adcode]:
            return None
        claimed = directory / f"{token}.claimed-{secrets.token_hex(4)}"
        try:
            os.rename(meta_path, claimed)  # atomic: of two simultaneous commits only one gets here
        except OSError:
            return None
        try:
            raw = raw_path.read_bytes()
        except OSError:
            return None
        finally:
            for path in (claimed, raw_path):
                path.unlink(missing_ok=True)
        if time.time() - float(meta.get("saved_at", 0)) > self.ttl_s or hashlib.sha256(raw).hexdigest() != meta.get("sha256"):
            return None
        return meta, raw

    def _expire(self, directory: Path) -> None:
        cutoff = time.time() - self.ttl_s
        for path in directory.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def report_fingerprint(report) -> str:
    """A digest of everything a user confirmed in a dry run: each problem and warning by row.

    If the registry changed between check and commit so that a row now draws another
    warning (a new station nearby), the fingerprint changes and the portal shows the new
    report instead of committing on a confirmation given for something else.
    """
    items = sorted(
        (str(i.row), i.code, i.field or "", i.message) for i in [*report.problems, *report.warnings]
    )
    return hashlib.sha256(json.dumps([report.ok, items, len(report.rows)], ensure_ascii=False).encode()).hexdigest()
