"""`stationmap db`: the PostGIS store's schema (migrations), and moving a file registry in and out of it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from geo.messages import locale_lang, translate
from stationmap.options import districts_option, domain_errors

store_option = click.option(
    "--store", "url", envvar="STATIONMAP_STORE", required=True, metavar="URL",
    help="The database, postgresql://user[:password]@host[:port]/dbname (or $STATIONMAP_STORE).")


def _database_url(url: str) -> str:
    from geo.registry import is_database_url

    if not is_database_url(url):
        raise click.BadParameter("expected a postgresql://… URL", param_hint="--store")
    return url


def _psycopg_errors(step: str):
    """psycopg failures as one line (the server's message), never a traceback."""
    import psycopg

    from geo.errors import RegistryUnavailableError
    from geo.messages import Text
    from geo.registry.postgis import first_line

    class Guard:
        def __enter__(self):
            return self

        def __exit__(self, kind, exc, tb):
            if isinstance(exc, psycopg.Error):
                raise RegistryUnavailableError(Text("cli.db_failed", step=step, detail=first_line(exc))) from None
            return False

    return Guard()


@click.group()
def db():
    """The PostgreSQL/PostGIS store: create or upgrade its schema, import a file registry, export it.

    \b
    Example (an empty database to a serving registry):
      createdb stations
      stationmap db upgrade --store postgresql:///stations
      stationmap db import data/stations.geojson --store postgresql:///stations
      stationmap serve --store postgresql:///stations
    """


@db.command()
@store_option
@domain_errors
def upgrade(url):
    """Create the schema, or bring it up to this program's version (numbered SQL migrations, each once).

    Needs a role that may CREATE EXTENSION postgis (or PostGIS already installed in the database).

    \b
    Example:
      stationmap db upgrade --store postgresql://stationmap@db.internal/stations
    """
    from geo.registry.postgis import connect
    from geo.registry.postgis_schema import latest_version
    from geo.registry.postgis_schema import upgrade as run_upgrade

    lang = locale_lang()
    with connect(_database_url(url)) as conn, _psycopg_errors("upgrade"):
        applied = run_upgrade(conn, log=lambda name: click.echo(translate("cli.db_applied", lang, migration=name), err=True))
    if applied:
        click.echo(translate("cli.db_schema_at", lang, version=latest_version()))
    else:
        click.echo(translate("cli.db_schema_already", lang, version=latest_version()))


@db.command()
@store_option
@domain_errors
def status(url):
    """The registry version and how many stations, audit entries, accounts and reports the database holds.

    \b
    Example:
      stationmap db status --store postgresql:///stations
    """
    from geo.registry.postgis import check_schema, connect

    with connect(_database_url(url)) as conn, _psycopg_errors("status"):
        check_schema(conn, url)
        version, stations, entries, accounts, reports = conn.execute(
            "SELECT (SELECT version FROM registry_meta), (SELECT count(*) FROM stations), (SELECT count(*) FROM audit), "
            "(SELECT count(*) FROM accounts), (SELECT count(*) FROM reports)").fetchone()
    click.echo(translate("cli.db_status", locale_lang(), version=version, stations=stations, entries=entries,
                         accounts=accounts, reports=reports))


@db.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--audit", "audit_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The file registry's audit log [default: <file stem>.audit.jsonl beside it, if present].")
@click.option("--accounts", "accounts_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The accounts file (with its .token_key) [default: accounts.json beside FILE, if present].")
@click.option("--reports", "reports_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Riders' reports (SQLite) [default: reports.sqlite beside FILE, if present].")
@store_option
@districts_option
@domain_errors
def import_(file, audit_file, accounts_file, reports_file, url, districts):
    """Move a file registry into an empty PostGIS store: its stations and audit log (one transaction), then its
    accounts with their token key and the app's secret key (.secret_key beside FILE), then riders' reports.

    The file is validated first (schema, districts); its registry version carries over. Tokens and
    signed-in sessions keep working on servers that use the database.

    \b
    Example:
      stationmap db import data/stations.geojson --store postgresql:///stations
    """
    from geo.access.records import FileAccountRecords
    from geo.districts import Districts
    from geo.paths import default_districts_path
    from geo.registry.audit import AuditLog
    from geo.registry.postgis import import_registry
    from geo.registry.state_pg import import_accounts
    from geo.registry.validate import validate_file_bytes
    from geo.reports.store import SQLiteReportStore
    from geo.reports.store_pg import import_reports

    url = _database_url(url)
    data = validate_file_bytes(file.read_bytes(), Districts.load(districts or default_districts_path()), source=str(file))
    audit_file = audit_file or file.with_name(file.stem + ".audit.jsonl")
    entries = AuditLog(audit_file).entries() if audit_file.exists() else []
    version = data.get("registry_version", 0)
    version = version if isinstance(version, int) else 0
    # Read everything before writing anything: a corrupt accounts file stops the import here.
    accounts_file = accounts_file or file.with_name("accounts.json")
    records = FileAccountRecords(accounts_file) if accounts_file.exists() else None
    users = records.users() if records is not None else {}
    secrets = {}
    for name, path in (("token_key", Path(f"{accounts_file}.token_key")), ("secret_key", file.with_name(".secret_key"))):
        if path.exists():
            secrets[name] = path.read_text().strip()
    reports_file = reports_file or file.with_name("reports.sqlite")
    reports = SQLiteReportStore(reports_file).list(status="all", limit=10**9) if reports_file.exists() else []
    with _psycopg_errors("import"):
        import_registry(url, data["features"], version, entries)
        import_accounts(url, users, secrets)
        import_reports(url, reports)
    lang = locale_lang()
    click.echo(translate("cli.db_imported", lang, stations=len(data["features"]), entries=len(entries), version=version))
    click.echo(translate("cli.db_imported_accounts", lang, accounts=len(users),
                         tokens=sum(len(u.tokens) for u in users.values()), reports=len(reports)))


@db.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
@store_option
@districts_option
@domain_errors
def export(output, url, districts):
    """Write the registry as an RFC 7946 GeoJSON file (the format the file store serves and imports).

    \b
    Example:
      stationmap db export --store postgresql:///stations -o stations.geojson
    """
    from geo.fileio import atomic_write_bytes
    from geo.registry import dump_feature_collection, open_store

    store = open_store(_database_url(url), districts)
    with _psycopg_errors("export"):
        version, features = store.backend.load()
    data = dump_feature_collection(features, version)
    store.close()
    if output is None:
        sys.stdout.buffer.write(data)
        return
    atomic_write_bytes(output, data)
    click.echo(translate("cli.db_exported", locale_lang(), stations=len(features), version=version, file=str(output)), err=True)
