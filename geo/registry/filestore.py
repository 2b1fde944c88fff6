"""The registry as one RFC 7946 GeoJSON file (the embedded default), and its serialisation."""

from __future__ import annotations

import gc
import hashlib
import json
import os
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import shapely

from geo import schema
from geo.districts import Districts
from geo.errors import RegistryUnavailableError, ValidationError
from geo.fileio import ProcessFileLock, atomic_write_bytes, remove_orphan_temp_files
from geo.messages import Text
from geo.registry import validate as validate_module
from geo.registry.audit import AuditLog
from geo.registry.backend import Backend, WriteTransaction, native_sleep, report_once
from geo.registry.store import StationStore, highest_serials_in
from geo.registry.validate import parse_json_strict, validate_feature_collection

VERSION_MEMBER = "registry_version"


class FileBackend(Backend):
    """The registry as one RFC 7946 file, written atomically under an inter-process lock.

    Every write: take the lock, re-read the file, let the rules apply the change, append the
    audit entry (tagged with the new version), then atomically replace the file.

    The audit log is append-only (issue 13): opening an older registry file, as after
    restoring a backup, never truncates it. ``StationStore.audit_status()`` reports a log that
    is ahead of the file; the next write records the mismatch in the log and numbers itself
    after the log's last version, so versions in the log only ever increase.

    Parameters
    ----------
    path : path of ``stations.geojson``
    districts : Districts (validation of a file written by hand)
    audit_path : JSON-lines audit log; default ``<path stem>.audit.jsonl`` beside it.
    """

    def __init__(self, path: str | Path, districts: Districts, audit_path: str | Path | None = None):
        self.path = Path(path)
        self.label = str(self.path)
        self.districts = districts
        self.audit = AuditLog(audit_path or self.path.with_name(self.path.stem + ".audit.jsonl"))
        self.lock = ProcessFileLock(str(self.path) + ".lock", timeout=60)
        # (blake2b of the file, its version, its features, {id(feature): its line} if we wrote it)
        self._validated: tuple[bytes, int, list[dict], dict | None] | None = None
        if not self.path.exists():
            raise RegistryUnavailableError(Text("registry.not_found_file", path=str(self.path)))
        with self.lock:
            remove_orphan_temp_files(self.path)
            remove_orphan_temp_files(self._receipt_path)
            self._read_file()             # refuse a corrupt registry at start-up
            self.audit.drop_torn_tail()   # only a line cut short by a crash; whole entries stay

    # -- reading ----------------------------------------------------------------

    def stamp(self):
        """(inode, mtime, size): one ``stat``; the atomic rename gives every write a new inode."""
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise RegistryUnavailableError(Text("registry.unreadable", path=str(self.path), detail=exc.strerror)) from exc
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def load(self) -> tuple[int, list[dict]]:
        return self._read_file()

    def _watch(self, callback, stopped, interval_s: float = 0.2) -> None:
        """Poll the file's stamp (one stat every ``interval_s``)."""
        seen = None  # catch up first: a forked worker starts watching after its parent's last look
        reported: set[str] = set()
        while not stopped():
            try:
                now = self.stamp()
                if now != seen:
                    callback()
                    seen = now
                    reported.clear()  # followed: a later failure is news again
            except Exception as exc:  # noqa: BLE001 - a corrupt or missing file: keep serving the last good version
                report_once(reported, f"{self.path}: still serving the last good version", exc)
            native_sleep(interval_s)

    def _read_file(self) -> tuple[int, list[dict]]:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise RegistryUnavailableError(Text("registry.unreadable", path=str(self.path), detail=exc.strerror)) from exc
        # Parsing and validating 200k stations takes tens of seconds; bytes this process
        # already validated (or wrote itself) are trusted again by their digest, not by stat().
        digest = hashlib.blake2b(raw, digest_size=32).digest()
        validated = self._validated
        if validated is not None and validated[0] == digest:
            return validated[1], validated[2]
        # Across processes (each gunicorn worker, each CLI run) a receipt beside the file
        # records the digest of the bytes last validated by this code and district map.
        receipt = f"{digest.hex()} {self._fingerprint}"
        trusted = self._read_receipt() == receipt
        try:
            with _gc_paused():
                data = parse_json_strict(raw, str(self.path))
                problems = [] if trusted else validate_feature_collection(data, self.districts)
            if problems:
                raise ValidationError(problems, source=str(self.path))
        except ValidationError as exc:
            first, more = (exc.problems or [None])[0], len(exc.problems) - 1
            # A whole-file problem is placed at the file, which the message names already.
            problem = str(exc) if first is None else first.message_text if first.where == str(self.path) else first.line()
            raise RegistryUnavailableError(Text("registry.corrupt", path=str(self.path), problem=problem,
                                                more=Text("cli.more_problems", n=more) if more > 0 else "")) from exc
        version = data.get(VERSION_MEMBER, 0)
        version = version if isinstance(version, int) else 0
        self._validated = (digest, version, data["features"], None)
        if not trusted:
            self._write_receipt(receipt)
        return version, data["features"]

    @cached_property
    def _fingerprint(self) -> str:
        """Digest of what validation depends on: the schema and validator code, the district map."""
        h = hashlib.blake2b(digest_size=16)
        for module in (schema, validate_module):
            h.update(Path(module.__file__).read_bytes())
        frame = self.districts.frame
        h.update("|".join(frame["adcode"]).encode())
        h.update(b"".join(shapely.to_wkb(frame.geometry.to_numpy())))
        return h.hexdigest()

    @property
    def _receipt_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.validated")

    def _read_receipt(self) -> str | None:
        try:
            return self._receipt_path.read_text().strip()
        except OSError:
            return None

    def _write_receipt(self, receipt: str) -> None:
        try:
            atomic_write_bytes(self._receipt_path, receipt.encode())
        except OSError:
            pass  # a read-only data directory only costs re-validation next time

    # -- writing ----------------------------------------------------------------

    @contextmanager
    def writing(self):
        with self.lock:
            version, current = self._read_file()
            self.audit.drop_torn_tail()
            logged = self.audit.last_version()
            validated = self._validated
            # Serialised lines of the features in `current` (alive, so their id()s are unique).
            memo = (validated[3] if validated is not None and validated[2] is current else None) or {}
            tx = _FileTransaction(self, version, current, memo)
            if logged > version:
                # An older file restored from a backup, or a crash after the append: the log keeps every entry;
                # this write records the mismatch and numbers itself after the log, so versions only increase.
                tx.mismatch = (version, logged)
                tx.version = logged + 1
            yield tx

    def _commit(self, tx: _FileTransaction, changes, entry) -> list[dict]:
        position = {f["properties"]["id"]: i for i, f in enumerate(tx.current)} if changes else {}
        new_features = list(tx.current)
        for _, _, after in changes:
            i = position.get(after["properties"]["id"])
            if i is None:
                new_features.append(after)
            else:
                new_features[i] = after
        new_version = tx.version + 1
        if tx.mismatch is not None:
            file_version, logged = tx.mismatch
            self.audit.append_note(logged + 1, "registry_mismatch", file_version=file_version, log_version=logged)
        self.audit.append(entry)
        lines = [tx.memo.get(id(f)) or _encode_feature(f) for f in new_features]
        data = _assemble_collection(lines, new_version)
        atomic_write_bytes(self.path, data)
        digest = hashlib.blake2b(data, digest_size=32).digest()
        self._validated = (digest, new_version, new_features,
                           {id(f): line for f, line in zip(new_features, lines, strict=True)})
        self._write_receipt(f"{digest.hex()} {self._fingerprint}")
        tx.stamp_after = self.stamp()
        return new_features


class _FileTransaction(WriteTransaction):
    def __init__(self, backend: FileBackend, version: int, current: list[dict], memo: dict):
        self.backend, self.version, self.current, self.memo = backend, version, current, memo
        self.mismatch: tuple[int, int] | None = None  # (file version, log version) when the log is ahead
        self._by_id: dict[str, dict] | None = None

    def get(self, station_ids: list[str]) -> dict[str, dict]:
        if self._by_id is None:
            self._by_id = {f["properties"]["id"]: f for f in self.current}
        return {i: self._by_id[i] for i in station_ids if i in self._by_id}

    def highest_serials(self, prefixes: set[str]) -> dict[str, int]:
        return highest_serials_in(self.current, prefixes)

    def commit(self, changes, entry) -> list[dict]:
        return self.backend._commit(self, changes, entry)


class GeoJSONFileStore(StationStore):
    """The store over one GeoJSON file (``FileBackend``): ``GeoJSONFileStore(path, districts)``."""

    def __init__(self, path: str | Path, districts: Districts, audit_path: str | Path | None = None):
        super().__init__(FileBackend(path, districts, audit_path), districts)
        self.path = self.backend.path
        self.lock = self.backend.lock


@contextmanager
def _gc_paused():
    """Parsing a big registry allocates millions of containers, and the cyclic garbage collector
    would rescan them over and over (a third of the parse time at 200k stations); reference
    counting still frees everything meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_FEATURE_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _encode_feature(feature: dict) -> bytes:
    return _FEATURE_ENCODER.encode(feature).encode("utf-8")


def _assemble_collection(lines: list[bytes], version: int | None) -> bytes:
    head = {"type": "FeatureCollection"}
    if version is not None:
        head[VERSION_MEMBER] = version
    opening = json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [\n'
    return opening.encode("utf-8") + b",\n".join(lines) + b"\n]}\n"


def dump_feature_collection(features: list[dict], version: int | None = None) -> bytes:
    """Serialise stations as RFC 7946 GeoJSON, one feature per line (small diffs, fast)."""
    return _assemble_collection([_encode_feature(f) for f in features], version)
