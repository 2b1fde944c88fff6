"""The PostGIS registry read in one statement, and ``prefetch`` to send it first.

A whole registry is read with one ``SELECT`` (``AGGREGATE_SQL``): per column one text of its values
joined by ``SEP`` (NULL as ``NULL_MARK``) with its count of non-NULL values, and the coordinates
and ``ord`` packed as binary. No Python object per row and column comes back: 200,000 stations
load in ~2.5 s where a row-by-row fetch took ~4.8 (``geo.registry.postgis.read_columns`` turns the
row into columns).

This module imports only psycopg and the schema, so that ``stationmap serve`` can send the
statement first (``prefetch``) and let the database work on it while the rest of the program
imports (~1 s of the ~1.5 s the statement takes at 200,000 stations).
"""

from __future__ import annotations

import threading

import psycopg

from geo import schema

CONNECT_TIMEOUT_S = 5
#: the properties nearly every station has a value of its own (and the coordinates)
OWN = ("lon", "lat", "id", "name", "address", "phone", "created_at", "updated_at")
#: the properties stations share values of, and which keys hold a JSON null
SHARED_COLUMNS = ("null_keys", *(name for name in schema.PROPERTY_NAMES if name not in OWN))
#: neither can be in a stored text: validation refuses control characters (a row written around it
#: that holds one is read row by row)
SEP, NULL_MARK = "\x1f", "\x01"
TEXT_COLUMNS = (*OWN[2:], *SHARED_COLUMNS)
AGGREGATE_SQL = " ".join([  # noqa: S608 - our own column names
    "SELECT count(*), string_agg(int8send(ord), ''::bytea), string_agg(float8send(lon), ''::bytea),",
    "string_agg(float8send(lat), ''::bytea),",
    ", ".join(f"count({name}), string_agg(coalesce({name}, E'\\x01'), E'\\x1f')" for name in TEXT_COLUMNS),
    "FROM (SELECT * FROM stations {where} ORDER BY ord) AS s"])


def read_aggregated(conn: psycopg.Connection, where: str = "", params=()) -> tuple[int, list]:
    """(version, the row of ``AGGREGATE_SQL``), seen consistently: call first in a transaction of ``conn``."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    # A full load streams 200k rows: longer than the bound on ordinary statements.
    conn.execute("SET LOCAL statement_timeout = 0")
    version = conn.execute("SELECT version FROM registry_meta").fetchone()[0]
    return version, list(conn.execute(AGGREGATE_SQL.format(where=where), params).fetchone())


_prefetched: dict[str, tuple[int, list]] = {}
_lock = threading.Lock()


def prefetch(url: str) -> None:
    """Read the whole registry at ``url`` now, on a connection of its own, and keep it for the store's
    first load (``take_prefetched``). Any failure is left to that load, which says what is wrong."""
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S) as conn, conn.transaction():
            got = read_aggregated(conn)
    except psycopg.Error:
        return
    with _lock:
        _prefetched[url] = got


def take_prefetched(url: str) -> tuple[int, list] | None:
    """What ``prefetch(url)`` read, once (None if nothing was)."""
    with _lock:
        return _prefetched.pop(url, None)
