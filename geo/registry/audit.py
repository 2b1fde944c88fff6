"""Append-only audit log of registry writes: one JSON line per write, tagged with the version it made.

Entries are written (and fsynced) before the registry file is replaced. Nothing is ever
removed but a torn last line (a crash mid-append). When the log holds versions the registry
file does not (an older file restored from a backup, or a crash between the append and the
file replace), the entries stay: the store reports the mismatch (``StationStore.audit_status``)
and records it in the log with its next write (action ``registry_mismatch``).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from geo.access.permissions import Actor
from geo.hours import CHONGQING_TZ
from geo.registry.backend import AuditReader

TAIL_BLOCK = 1 << 16


def make_entry(version: int, actor: Actor, changes: list[tuple[str, dict | None, dict]], reason: str | None = None) -> dict:
    """The audit entry of one write: ``changes`` are (action, feature before or None, feature after);
    ``reason`` e.g. why a station was retired."""
    entry = {
        "version": version,
        "at": datetime.now(CHONGQING_TZ).isoformat(timespec="seconds"),
        "actor": actor.name,
        "role": actor.role,
        "district": actor.district_adcode,
        "actions": sorted({action for action, _, _ in changes}),
        "ids": [after["properties"]["id"] for _, _, after in changes],
        "changes": [
            {"action": action, "id": after["properties"]["id"], "before": before, "after": after}
            for action, before, after in changes
        ],
    }
    if reason:
        entry["reason"] = reason
    return entry


def entry_matches(entry: dict, station_id=None, actor=None, district=None, action=None, since=None, until=None) -> bool:
    """Whether one entry passes the audit filters (see ``AuditReader.entries``)."""
    if station_id and station_id not in entry["ids"]:
        return False
    if actor and entry["actor"] != actor:
        return False
    if district and entry.get("district") != district and not any(
        (c["after"] or {}).get("properties", {}).get("district_adcode") == district for c in entry["changes"]
    ):
        return False
    if action and action not in entry["actions"]:
        return False
    if since and entry["at"] < since:
        return False
    return not (until and entry["at"] > until)


class AuditLog(AuditReader):
    """The JSON-lines log beside a file registry. Callers hold the registry's lock when writing."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def append(self, entry: dict) -> dict:
        """Append one entry (see ``make_entry``), durably."""
        self._append_line(entry)
        return entry

    def drop_torn_tail(self) -> bool:
        """Remove a last line cut short by a crash (no newline, or not JSON); whole entries are never removed."""
        if not self.path.exists():
            return False
        with open(self.path, "r+b") as handle:
            end = handle.seek(0, os.SEEK_END)
            if end == 0:
                return False
            start, last = _last_line(handle, end)
            try:
                json.loads(last)
                whole = last.endswith(b"\n")
            except ValueError:
                whole = False
            if whole:
                return False
            handle.truncate(start)
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def last_version(self) -> int:
        """The version of the newest entry (0 if none); reads only the tail of the file."""
        if not self.path.exists():
            return 0
        with open(self.path, "rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            while end > 0:
                start, last = _last_line(handle, end)
                try:
                    return int(json.loads(last).get("version", 0))
                except (ValueError, AttributeError, TypeError):
                    end = start   # a torn line: look at the one before
        return 0

    def append_note(self, version: int, action: str, **details) -> dict:
        """An entry that records something about the log itself (no station changed)."""
        entry = {"version": version, "at": datetime.now(CHONGQING_TZ).isoformat(timespec="seconds"), "actor": "system",
                 "role": "system", "district": None, "actions": [action], "ids": [], "changes": [], **details}
        self._append_line(entry)
        return entry

    def _append_line(self, entry: dict) -> None:
        line = (json.dumps(entry, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n").encode()
        with open(self.path, "ab") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def entries(self, station_id: str | None = None, actor: str | None = None, district: str | None = None,
                action: str | None = None, since: str | None = None, until: str | None = None) -> list[dict]:
        """Entries oldest first, filtered; ``since``/``until`` compare ISO timestamps."""
        if not self.path.exists():
            return []
        result = []
        with open(self.path, encoding="utf-8") as handle:
            for raw in handle:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue  # a torn line from a crash; the next write removes it
                if entry_matches(entry, station_id, actor, district, action, since, until):
                    result.append(entry)
        return result


def _last_line(handle, end: int) -> tuple[int, bytes]:
    """(offset, bytes) of the file's last line, including its newline if it has one."""
    pos = end
    tail = b""
    while pos > 0:
        step = min(TAIL_BLOCK, pos)
        pos -= step
        handle.seek(pos)
        tail = handle.read(step) + tail
        cut = tail.rfind(b"\n", 0, len(tail) - 1)
        if cut >= 0:
            return pos + cut + 1, tail[cut + 1 :]
    return 0, tail
