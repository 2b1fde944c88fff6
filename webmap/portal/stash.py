"""Checked-but-not-committed uploads, kept on disk between the portal's dry run and its commit.

The dry run saves the file's bytes under a random token with who uploaded it, the CRS
and the SHA-256 of the bytes; the commit claims the token (atomically, so a double-clicked
button cannot commit twice), re-reads the same bytes and checks them again against the
registry as it is *then*. Drafts live where the store keeps its state: a private directory
(mode 0700) every worker process can reach, or the store's database (every app server
sees them); they expire after ``ttl_s``.
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
from geo.registry.state import Drafts

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")
DEFAULT_TTL_S = 2 * 3600


class UploadStash:
    """Dry-run uploads by token: the rules (who may claim, expiry, the bytes' digest) over the store's
    drafts (``geo.registry.state.Drafts``: a private directory, or the store's database).

    Parameters
    ----------
    directory : where the file store keeps them; created 0700 if missing, refused if it is a symlink
        or owned by another user (a shared /tmp must not let anyone plant files).
    ttl_s : seconds a dry run stays committable.
    drafts : the storage (``get_app_state().drafts(directory)``); default the directory.
    """

    def __init__(self, directory: str | Path | None = None, ttl_s: int = DEFAULT_TTL_S, drafts: Drafts | None = None):
        self.directory = Path(directory or default_directory())
        self.ttl_s = ttl_s
        if drafts is None:
            from geo.registry.state_file import FileDrafts

            drafts = FileDrafts(self.directory)
        self.drafts = drafts

    def save(self, actor: Actor, filename: str, crs: str, raw: bytes, fingerprint: str) -> str:
        """Keep one dry run; returns its token."""
        self.drafts.expire(time.time() - self.ttl_s)
        token = secrets.token_urlsafe(24)
        meta = {"actor": [actor.name, actor.role, actor.district_adcode], "filename": filename, "crs": crs,
                "sha256": hashlib.sha256(raw).hexdigest(), "fingerprint": fingerprint, "saved_at": time.time()}
        self.drafts.put(token, meta, raw)
        return token

    def claim(self, token: str, actor: Actor) -> tuple[dict, bytes] | None:
        """Take a dry run out of the stash: ``(meta, raw bytes)``, or ``None`` if the token is
        unknown, expired, already claimed, tampered with, or belongs to another account."""
        if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
            return None
        meta = self.drafts.peek(token)
        if meta is None or meta.get("actor") != [actor.name, actor.role, actor.district_adcode]:
            return None
        taken = self.drafts.take(token)  # of two simultaneous commits only one gets it
        if taken is None:
            return None
        meta, raw = taken
        if meta.get("actor") != [actor.name, actor.role, actor.district_adcode]:
            return None
        if time.time() - float(meta.get("saved_at", 0)) > self.ttl_s or hashlib.sha256(raw).hexdigest() != meta.get("sha256"):
            return None
        return meta, raw


def default_directory() -> Path:
    """The file store's place for drafts when ``UPLOAD_STASH_DIR`` is not set."""
    return Path(tempfile.gettempdir()) / f"stationmap-uploads-{os.getuid()}"


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
