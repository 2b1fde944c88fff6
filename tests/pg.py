"""A real PostgreSQL/PostGIS for the tests: a throwaway cluster per test session, a fresh database per test.

``STATIONMAP_TEST_PG=postgresql://…`` (a superuser's URL to an existing server) is used if set;
otherwise a cluster is made with Debian's ``initdb`` in a temporary directory (as the
``postgres`` user when we are root: initdb refuses root), listening only on a Unix socket in
that directory (on tmpfs when there is room), with fsync off, and stopped at the end. ``./run.sh test`` installs
``postgresql-15-postgis-3``. When PostgreSQL cannot be had, the tests that need it FAIL with
the reason: they are never skipped.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.ramdisk import ram_temp_root

PG_BIN = Path(os.environ.get("STATIONMAP_PG_BIN", "/usr/lib/postgresql/15/bin"))
TEMPLATE = "stationmap_template"
CLUSTER_ROOM = 6 << 30  # bytes free on tmpfs to put a cluster there
_counter = itertools.count()


def _as_cluster_owner(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def start_cluster() -> tuple[Path, str]:
    """(cluster directory, superuser URL of its ``postgres`` database)."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"{PG_BIN}/initdb not found: install Debian's postgresql-15 and postgresql-15-postgis-3 "
                           "(./run.sh test does), or set STATIONMAP_TEST_PG")
    # On tmpfs when there is room for a few hundred test databases (~15 MB each; see tests/ramdisk.py).
    directory = Path(tempfile.mkdtemp(prefix="stationmap-pg-", dir=ram_temp_root(room=CLUSTER_ROOM)))
    directory.chmod(0o755)
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    data = directory / "data"
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    subprocess.run(_as_cluster_owner([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                      "--no-sync", "-E", "UTF8", "--locale", "C.UTF-8"]), **run)
    pg_ctl(directory, "start")
    return directory, f"postgresql://postgres@/postgres?host={quote(str(directory))}&port=5432"


def pg_ctl(directory: Path, action: str, mode: str = "fast") -> None:
    """Start or stop the cluster in ``directory`` (Unix socket there only, no TCP, fsync off), waiting until done."""
    command = [str(PG_BIN / "pg_ctl"), "-D", str(directory / "data"), "-w"]
    if action == "start":
        options = (f"-p 5432 -k {directory} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200")
        command += ["-o", options, "-l", str(directory / "log"), "start"]
    else:
        command += ["-m", mode, action]
    subprocess.run(_as_cluster_owner(command), check=True, capture_output=True, text=True, timeout=120)


def stop_cluster(directory: Path) -> None:
    try:
        pg_ctl(directory, "stop", mode="immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def make_template(server_url: str, name: str) -> None:
    import psycopg

    from geo.registry.postgis_schema import upgrade

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(database_url(server_url, name)) as conn:
        upgrade(conn, log=lambda _line: None)


def create_database(server_url: str, template: str | None) -> str:
    """A new, empty database (a copy of ``template``, which has the current schema); returns its URL."""
    import psycopg

    name = f"t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return database_url(server_url, name)


@pytest.fixture(scope="session")
def pg_server():
    """The URL of a PostgreSQL server we may create databases on (the session's own cluster)."""
    url = os.environ.get("STATIONMAP_TEST_PG")
    directory = None
    if not url:
        try:
            directory, url = start_cluster()
        except (RuntimeError, subprocess.SubprocessError, KeyError, OSError) as exc:
            detail = getattr(exc, "stderr", "") or ""
            pytest.fail(f"PostgreSQL for the tests could not be started: {exc} {detail}".strip(), pytrace=False)
    template = f"{TEMPLATE}_{os.getpid()}"
    make_template(url, template)
    yield {"url": url, "template": template}
    if directory is not None:
        stop_cluster(directory)


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh database with the current schema (and PostGIS), for one test."""
    return create_database(pg_server["url"], pg_server["template"])


@pytest.fixture
def pg_empty_url(pg_server) -> str:
    """A fresh database with nothing in it (no schema, no PostGIS)."""
    return create_database(pg_server["url"], None)
