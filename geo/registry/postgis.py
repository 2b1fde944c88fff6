"""The registry in PostgreSQL/PostGIS: several app servers share one database (psycopg 3).

Each app server still answers from its in-memory snapshot (the same exact nearest index as
the file store); the database is the shared truth behind it:

- ``load()`` reads every station in one statement, each column aggregated into one text (no
  Python object per row and column on the way);
- every write is one transaction: the ``registry_meta`` row is locked (writers queue, readers
  never wait), the rules read the touched rows, then the rows, the audit entry and the version
  bump commit together and ``pg_notify`` tells every server the new version;
- ``watch()`` LISTENs on a connection of its own and applies ``changes_since(v)`` (the rows
  whose ``version > v``) as a delta; after a lost connection it reconnects and catches up;
- a write while the database is unreachable raises ``RegistryUnavailableError`` (HTTP 503)
  with a clear message, and reads go on from the snapshot.

The schema comes from ``stationmap db upgrade`` (``postgis_schema``); opening a database whose
schema is missing, older or newer than this code, or lacks PostGIS, fails with one line.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from geo import schema
from geo.errors import RegistryUnavailableError
from geo.messages import Text
from geo.registry.audit import entry_matches
from geo.registry.backend import AuditReader, Backend, WriteTransaction, native_sleep, report_once
from geo.registry.postgis_load import (
    CONNECT_TIMEOUT_S,
    NULL_MARK,
    OWN,
    SEP,
    SHARED_COLUMNS,
    TEXT_COLUMNS,
    read_aggregated,
    take_prefetched,
)
from geo.registry.postgis_schema import latest_version, schema_version
from geo.registry.snapshot import ASCII_COLUMNS, MISSING, AsciiColumn, StationTable, TextColumn, own_column_of

CHANNEL = "stationmap_registry"
STATEMENT_TIMEOUT_MS = 30_000
_ORDER = {name: i for i, name in enumerate(schema.PROPERTY_NAMES)}
#: properties held as JSON text in their column (lists, objects); every other one is text
_JSON_COLUMNS = frozenset({"amenities", "honours", "listing"})
#: every station as typed columns (migration 0003), read row by row in chunks only when the one-statement
#: load below cannot be split (a text holding its separator): first the values nearly every station has
#: its own, then those stations share (each read value dropped for the one shared object at once)
_LOAD_SQL = "SELECT {columns} FROM stations {where} ORDER BY ord"
_CHUNK_ROWS = 5_000


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A connection, or ``RegistryUnavailableError`` saying in one line why not."""
    try:
        return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, **kwargs)
    except psycopg.Error as exc:
        raise RegistryUnavailableError(Text("registry.db_unreachable", where=redacted(url), detail=first_line(exc))) from None


def bounded_connect(url: str, **kwargs) -> psycopg.Connection:
    """A connection whose statements and lock waits are bounded: a stalled database must not hold a worker for ever."""
    return connect(url, options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={STATEMENT_TIMEOUT_MS}",
                   **kwargs)


def connection_lost(broken: psycopg.Connection) -> RegistryUnavailableError:
    """Close a connection that failed (quietly) and say so: the next call reconnects."""
    try:
        broken.close()
    except psycopg.Error:
        pass
    return RegistryUnavailableError(Text("registry.writes_unavailable"))


def check_schema(conn, url: str) -> None:
    """Refuse a database without PostGIS or with a schema this code does not match."""
    has_postgis = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone()
    found, wanted = schema_version(conn), latest_version()
    conn.rollback()
    where = redacted(url)
    if found == 0:
        raise RegistryUnavailableError(Text("registry.db_no_schema", where=where))
    if not has_postgis:
        raise RegistryUnavailableError(Text("registry.db_no_postgis", where=where))
    if found < wanted:
        raise RegistryUnavailableError(Text("registry.db_schema_older", where=where, found=found, wanted=wanted))
    if found > wanted:
        raise RegistryUnavailableError(Text("registry.db_schema_newer", where=where, found=found, wanted=wanted))


def feature_of(props_json: str, lon: float, lat: float) -> dict:
    """A GeoJSON Feature from a row; properties back in the schema's order (jsonb sorts keys)."""
    props = json.loads(props_json)
    props = dict(sorted(props.items(), key=lambda kv: _ORDER.get(kv[0], len(_ORDER))))
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def read_columns(aggregated: list, fetch=None) -> StationTable | None:
    """The stations as a ``StationTable`` in registry order, from ``aggregated`` (the row of
    ``postgis_load.AGGREGATE_SQL``) or, when that cannot be split (a text holding a separator),
    ``fetch(names)``, which yields chunks of rows of those columns (each call the same stations in
    the same order); None then if there is no ``fetch``.

    A value that repeats (a district, opening hours, an amenity list) is read as a code into its
    distinct values, each held once and its JSON text parsed once: no object per station. NULL is
    an absent property unless the ``null_keys`` column names it."""
    split = _split_aggregates(aggregated)
    if split is None:
        if fetch is None:
            return None
        own = _columns_of(fetch(OWN), OWN)
        codes, distinct = _coded_columns(fetch(SHARED_COLUMNS), SHARED_COLUMNS)
        lon, lat = own.pop("lon").astype(float), own.pop("lat").astype(float)
    else:
        lon, lat, own, codes, distinct = split
    for name, column in own.items():
        if isinstance(column, TextColumn):
            continue
        if column.dtype == object:
            column[np.equal(column, None)] = MISSING
            own[name] = own_column_of(name, column)
        else:
            own[name] = TextColumn(column)
    values = {name: [MISSING if v is None else json.loads(v) if name in _JSON_COLUMNS else v for v in texts]
              for name, texts in distinct.items() if name != "null_keys"}
    null_codes = codes.pop("null_keys")
    for code, text in enumerate(distinct["null_keys"]):
        if text is None:
            continue
        rows = np.flatnonzero(null_codes == code)
        for key in json.loads(text):  # present with a JSON null
            if key in own:
                own[key].others.update(dict.fromkeys(rows.tolist()))
            elif key in values:
                held = values[key]
                none = next((c for c, v in enumerate(held) if v is None), None)
                if none is None:
                    none = len(held)
                    held.append(None)
                codes[key][rows] = none
    return StationTable.of_columns(lon, lat, own, codes, values)


def _split_aggregates(row: list):
    """(lon, lat, own columns (``TextColumn.DTYPE``), shared codes, shared distinct values) from the one row of
    ``AGGREGATE_SQL``; None if a text held the separator or the NULL mark (validation refuses
    control characters, so only a row written around it can: it is then read row by row)."""
    n, order, lon, lat = row[0], np.frombuffer(row[1] or b"", ">i8"), row[2] or b"", row[3] or b""
    lon, lat = np.frombuffer(lon, ">f8").astype(float), np.frombuffer(lat, ">f8").astype(float)
    # The subquery's order is what the aggregates see; ``ord`` travels along to make sure of it.
    rows = None if np.all(order[1:] > order[:-1]) else np.argsort(order, kind="stable")
    if rows is not None:
        lon, lat = lon[rows], lat[rows]
    own, codes, distinct = {}, {}, {}
    for j, name in enumerate(TEXT_COLUMNS):
        present, joined, row[5 + 2 * j] = row[4 + 2 * j], row[5 + 2 * j], None  # freed once split
        parts = joined.split(SEP) if n else []
        del joined
        if len(parts) != n or (n - present and parts.count(NULL_MARK) != n - present):
            return None
        if name in ASCII_COLUMNS:  # timestamps, as bytes
            column = AsciiColumn.of(parts if rows is None else [parts[i] for i in rows.tolist()])
            del parts
            if n - present:
                for i in np.flatnonzero(column.raw == NULL_MARK.encode()).tolist():
                    column.raw[i], column.others[i] = b"", MISSING
            own[name] = column
            continue
        if name in OWN:
            # Made compact at once: the split's strings are freed together, before anything else lands among them.
            column = np.array(parts, dtype=TextColumn.DTYPE)
            del parts
            if n - present:
                column[column == NULL_MARK] = MISSING
            own[name] = column if rows is None else column[rows]
            continue
        lookup = dict.fromkeys(parts)
        # Fresh copies of the few distinct values: kept, the split's own strings would each hold
        # a block of the memory the split's 200,000 strings are freed from.
        held = [None if text == NULL_MARK else text.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
                for text in lookup]
        for code, text in enumerate(lookup):
            lookup[text] = code
        column = np.fromiter(map(lookup.__getitem__, parts), dtype=np.int32, count=n)
        del parts, lookup
        codes[name], distinct[name] = column if rows is None else column[rows], held
    return lon, lat, own, codes, distinct


def _columns_of(chunks, names) -> dict[str, np.ndarray]:
    """One object array per column (None for NULL)."""
    parts: list[list] = [[] for _ in names]
    for chunk in chunks:
        for j, values in enumerate(zip(*chunk, strict=True)):
            parts[j].append(values)
        del chunk
    n = sum(len(values) for values in parts[0]) if parts else 0
    return {name: _object_column(part, n) for name, part in zip(names, parts, strict=True)}


def _coded_columns(chunks, names) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """Per column, an int32 code per row into its distinct values (None for NULL), and those values:
    each chunk factorized in C, and only its few distinct values looked at in Python."""
    seen: list[dict] = [{} for _ in names]
    distinct: list[list] = [[] for _ in names]
    parts: list[list] = [[] for _ in names]
    for chunk in chunks:
        for j, values in enumerate(zip(*chunk, strict=True)):
            chunk_codes, uniques = pd.factorize(np.array(values, dtype=object), use_na_sentinel=False)
            remap = np.empty(len(uniques), dtype=np.int32)
            for k, value in enumerate(uniques.tolist()):
                value = None if value is None or value != value else value  # NULL: NaN here
                code = seen[j].get(value)
                if code is None:
                    code = seen[j][value] = len(distinct[j])
                    distinct[j].append(value)
                remap[k] = code
            parts[j].append(remap[chunk_codes])
        del chunk
    codes = {name: np.concatenate(part) if part else np.zeros(0, dtype=np.int32) for name, part in zip(names, parts, strict=True)}
    return codes, dict(zip(names, distinct, strict=True))


def _object_column(parts: list, n: int) -> np.ndarray:
    """One object array from chunks of text values (None for NULL)."""
    column = np.empty(n, dtype=object)
    start = 0
    for values in parts:
        column[start: start + len(values)] = values
        start += len(values)
    return column


class PostGISBackend(Backend):
    """Stations, audit and version in PostgreSQL. ``url``: ``postgresql://user[:password]@host[:port]/db``
    (or ``postgresql:///db?host=/socket/dir``)."""

    def __init__(self, url: str):
        self.url = url
        self.label = redacted(url)
        self.audit = _PostGISAudit(self)
        self._lock = threading.Lock()  # one connection per process, one user at a time
        self._conn: psycopg.Connection | None = None
        self._pid = os.getpid()
        self._inherited: list = []  # a parent's connections: never used or closed in a child
        self._opened = False
        with self._connection() as conn:
            check_schema(conn, url)
        self._opened = True

    # -- connections ------------------------------------------------------------

    @contextmanager
    def _connection(self):
        """The process's connection under its lock; a lost connection becomes ``RegistryUnavailableError``
        and is dropped, so the next call reconnects."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's socket is not ours to use (or close)
                self._inherited.append(self._conn)
                self._conn, self._pid = None, os.getpid()
            if self._conn is None or self._conn.closed:
                try:
                    self._conn = bounded_connect(self.url)
                except RegistryUnavailableError as exc:
                    if not self._opened:
                        raise  # at start: say exactly why (which server, what failed)
                    raise RegistryUnavailableError(Text("registry.writes_unavailable")) from exc
            try:
                yield self._conn
            except psycopg.OperationalError as exc:
                broken, self._conn = self._conn, None
                raise connection_lost(broken) from exc

    # -- reading ----------------------------------------------------------------

    def stamp(self) -> int:
        with self._connection() as conn:
            version = conn.execute("SELECT version FROM registry_meta").fetchone()[0]
            conn.rollback()
        return version

    def _read(self, where: str = "", params=()) -> tuple[int, StationTable]:
        if not where and (prefetched := take_prefetched(self.url)) is not None:  # `stationmap serve` sent it first
            version, row = prefetched
            # Only if still current (a write since then: read afresh, rather than hand out an old version as new).
            table = read_columns(row) if self.stamp() == version else None
            if table is not None:
                return version, table
        with self._connection() as conn:
            # One consistent view: the version and the rows it made.
            with conn.transaction():
                version, row = read_aggregated(conn, where, params)

                def fetch(names):
                    with conn.cursor("stationmap_load") as cursor:  # server-side: a chunk of rows at a time
                        cursor.execute(_LOAD_SQL.format(columns=", ".join(names), where=where), params)
                        while chunk := cursor.fetchmany(_CHUNK_ROWS):
                            yield chunk

                table = read_columns(row, fetch)
            conn.rollback()
            if not where:
                # libpq keeps the buffer it grew for the one big result row (~70 MB at 200,000 stations) for as
                # long as the connection lives (and a forked worker inherits it): close it; the next call reconnects.
                conn.close()
                self._conn = None
        return version, table

    def load_table(self) -> tuple[int, StationTable]:
        return self._read()

    def load(self) -> tuple[int, list[dict]]:
        version, table = self._read()
        return version, [table.feature(i) for i in range(len(table))]

    def changes_since(self, version: int) -> tuple[int, list[dict]]:
        version, table = self._read("WHERE version > %s", (version,))
        return version, [table.feature(i) for i in range(len(table))]

    def _watch(self, callback, stopped) -> None:
        """LISTEN on a connection of its own; ``callback()`` on notifications and after every (re)connect."""
        delay, reported = 0.2, set()
        while not stopped():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    callback()  # catch up on whatever was written while we were not listening
                    delay = 0.2
                    reported.clear()  # caught up: a later failure is news again
                    while not stopped():
                        if any(True for _ in conn.notifies(timeout=1.0, stop_after=1)):
                            # Coalesce a burst: one delta covers every version up to now.
                            for _ in conn.notifies(timeout=0.01):
                                pass
                            callback()
                        else:
                            conn.execute("SELECT 1")  # notice a dead connection even when nobody writes
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect and catch up, reads go on from the snapshot
                report_once(reported, f"{redacted(self.url)}: following writes, will reconnect and catch up", exc)
                native_sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- writing ----------------------------------------------------------------

    @contextmanager
    def writing(self):
        with self._connection() as conn:
            with conn.transaction():
                version = conn.execute("SELECT version FROM registry_meta FOR UPDATE").fetchone()[0]
                yield _PostGISTransaction(conn, version)
            conn.rollback()

    def close(self) -> None:
        self.stop_watching()
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


class _PostGISTransaction(WriteTransaction):
    def __init__(self, conn, version: int):
        self.conn, self.version = conn, version

    def get(self, station_ids: list[str]) -> dict[str, dict]:
        rows = self.conn.execute("SELECT props::text, ST_X(geom), ST_Y(geom) FROM stations WHERE id = ANY(%s) FOR UPDATE",
                                 (list(station_ids),)).fetchall()
        features = [feature_of(*row) for row in rows]
        return {f["properties"]["id"]: f for f in features}

    def highest_serials(self, prefixes: set[str]) -> dict[str, int]:
        highest = {}
        for prefix in sorted(prefixes):  # a few per upload; a constant LIKE prefix uses the text_pattern_ops index
            (n,) = self.conn.execute("SELECT max(substring(id FROM %s)::int) FROM stations WHERE id LIKE %s",
                                     (len(prefix) + 1, prefix + "%")).fetchone()
            if n is not None:
                highest[prefix] = n
        return highest

    def commit(self, changes, entry) -> None:
        version = self.version + 1
        added = [after for _, before, after in changes if before is None]
        edited = [after for _, before, after in changes if before is not None]
        with self.conn.cursor() as cur:
            if added:
                cur.executemany(
                    "INSERT INTO stations (id, geom, props, version) VALUES (%s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s)",
                    [(f["properties"]["id"], *f["geometry"]["coordinates"][:2], Jsonb(f["properties"]), version) for f in added])
            if edited:
                cur.executemany(
                    "UPDATE stations SET geom = ST_SetSRID(ST_MakePoint(%s, %s), 4326), props = %s, version = %s WHERE id = %s",
                    [(*f["geometry"]["coordinates"][:2], Jsonb(f["properties"]), version, f["properties"]["id"]) for f in edited])
            insert_audit(cur, entry)
            cur.execute("UPDATE registry_meta SET version = %s", (version,))
            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(version)))
        self.stamp_after = version


def insert_audit(cur, entry: dict) -> None:
    districts = {entry.get("district")} | {
        (c["after"] or {}).get("properties", {}).get("district_adcode") for c in entry["changes"]}
    cur.execute(
        "INSERT INTO audit (version, at, actor, role, district, actions, ids, districts, entry)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (entry["version"], entry["at"], entry["actor"], entry["role"], entry.get("district"), entry["actions"],
         entry["ids"], sorted(d for d in districts if d), Jsonb(entry)))


class _PostGISAudit(AuditReader):
    def __init__(self, backend: PostGISBackend):
        self.backend = backend

    def last_version(self) -> int:
        with self.backend._connection() as conn:
            (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM audit").fetchone()
            conn.rollback()
        return version

    def entries(self, station_id=None, actor=None, district=None, action=None, since=None, until=None) -> list[dict]:
        clauses, params = [], []
        for value, clause in ((station_id, "%s = ANY(ids)"), (actor, "actor = %s"), (district, "%s = ANY(districts)"),
                              (action, "%s = ANY(actions)")):
            if value:
                clauses.append(clause)
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.backend._connection() as conn:
            rows = conn.execute(f"SELECT entry::text FROM audit {where} ORDER BY version", params).fetchall()  # noqa: S608
            conn.rollback()
        entries = [json.loads(text) for (text,) in rows]
        # since/until compare the ISO text exactly as the file log does.
        return [e for e in entries if entry_matches(e, since=since, until=until)] if since or until else entries


def import_registry(url: str, features: list[dict], version: int, entries: list[dict]) -> None:
    """Fill an empty PostGIS registry with validated ``features`` at ``version`` and their audit ``entries``,
    in one transaction (binary COPY). Refuses a database that already holds stations or audit entries."""
    with connect(url) as conn:
        check_schema(conn, url)
        with conn.transaction():
            conn.execute("LOCK TABLE registry_meta, stations, audit IN EXCLUSIVE MODE")
            held = conn.execute("SELECT (SELECT count(*) FROM stations), (SELECT count(*) FROM audit)").fetchone()
            if any(held):
                raise RegistryUnavailableError(Text("registry.db_not_empty", where=redacted(url), stations=held[0],
                                                    entries=held[1]))
            with conn.cursor().copy("COPY stations (id, geom, props, version) FROM STDIN") as copy:
                for f in features:
                    lon, lat = f["geometry"]["coordinates"][:2]
                    copy.write_row((f["properties"]["id"], f"SRID=4326;POINT({lon!r} {lat!r})", Jsonb(f["properties"]), version))
            with conn.cursor() as cur:
                for entry in entries:
                    insert_audit(cur, entry)
            conn.execute("UPDATE registry_meta SET version = %s", (version,))
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(version)))
        # Bulk-loaded rows: freeze them, mark their pages all-visible and gather statistics now (~1 s at 200,000
        # stations), as PostgreSQL advises after a bulk load. Else autovacuum comes back to the whole table a minute
        # later, maybe while servers start: a vacuum running beside a start slowed it by ~0.8 s at 200,000.
        conn.autocommit = True
        conn.execute("VACUUM (FREEZE, ANALYZE) stations, audit")
