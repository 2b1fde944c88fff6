"""`stationmap db` on a real PostgreSQL: schema by migrations, import and export round trip, and bad
configuration stopping the server at start with one clear line."""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner

from geo.access.permissions import CLI_ACTOR
from geo.registry import GeoJSONFileStore, open_store
from geo.registry.postgis_schema import latest_version
from geo.registry.validate import validate_file_bytes
from stationmap.cli import main
from tests.conftest import make_station


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_upgrade_makes_the_schema_once_and_status_reports_it(pg_empty_url):
    first = run("db", "upgrade", "--store", pg_empty_url)
    assert first.exit_code == 0, first.output
    assert "已执行迁移 0001_registry" in first.output and "已执行迁移 0002_app_state" in first.output
    assert f"数据库结构已升级到版本 {latest_version()}" in first.output
    again = run("db", "upgrade", "--store", pg_empty_url)
    assert again.exit_code == 0 and "（无需改动）" in again.output
    status = run("db", "status", "--store", pg_empty_url)
    assert status.output.strip() == "登记版本 0：0 个站点、0 条操作记录、0 个账号、0 条反馈"


def test_an_english_locale_gets_the_db_commands_in_english(pg_empty_url, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    first = run("db", "upgrade", "--store", pg_empty_url)
    assert "applied migration 0001_registry" in first.output and f"schema is at version {latest_version()}" in first.output
    status = run("db", "status", "--store", pg_empty_url)
    assert status.output.strip() == "registry version 0: 0 stations, 0 audit entries, 0 accounts, 0 reports"


def test_import_then_export_round_trips_stations_versions_and_audit(pg_url, registry_path, districts, tmp_path):
    file_store = GeoJSONFileStore(registry_path, districts)
    file_store.add([make_station("500103-OS-0099", 106.5716, 29.5539)], CLI_ACTOR)
    file_store.retire("500105-OS-0001", CLI_ACTOR)
    result = run("db", "import", str(registry_path), "--store", pg_url)
    assert result.exit_code == 0, result.output
    assert "已导入 13 个站点和 2 条操作记录（登记版本 2）" in result.output
    with psycopg.connect(pg_url) as conn:  # vacuumed and analysed after the bulk load: autovacuum has nothing left
        vacuumed = conn.execute("SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                "WHERE relname = 'stations'").fetchone()[0]
    assert vacuumed

    exported = tmp_path / "exported.geojson"
    result = run("db", "export", "--store", pg_url, "-o", str(exported))
    assert result.exit_code == 0, result.output
    data = validate_file_bytes(exported.read_bytes(), districts)  # RFC 7946 and our schema
    assert data["features"] == file_store.snapshot().features and data["registry_version"] == 2
    db_store = open_store(pg_url, districts)
    assert db_store.history() == file_store.history()
    # The database continues the file's versions and ids.
    assert db_store.add([make_station("500103-OS-0001", 106.5720, 29.5540)], CLI_ACTOR) == ["500103-OS-0006"]
    assert db_store.snapshot().version == 3
    db_store.close()


def test_import_refuses_a_database_that_already_holds_a_registry(pg_url, registry_path):
    assert run("db", "import", str(registry_path), "--store", pg_url).exit_code == 0
    again = run("db", "import", str(registry_path), "--store", pg_url)
    assert again.exit_code == 1 and "登记库不是空的（12 个站点" in again.output


def test_the_audit_log_cannot_be_rewritten(pg_url, registry_path, districts):
    store = open_store(pg_url, districts)
    store.add([make_station("500103-OS-0099", 106.5716, 29.5539)], CLI_ACTOR)
    with psycopg.connect(pg_url) as conn:
        for statement in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit", "TRUNCATE audit"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
            conn.rollback()
    assert [e["actor"] for e in store.history()] == ["cli"]
    store.close()


def _newer_schema(url):
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, 'future')", (latest_version() + 1,))


def _no_postgis(url):
    with psycopg.connect(url) as conn:
        conn.execute("DROP EXTENSION postgis CASCADE")


@pytest.mark.parametrize("breakage,message", [
    ("unreachable", "cannot connect to PostgreSQL"),
    ("empty", "no station registry schema here; run `stationmap db upgrade"),
    ("newer", f"schema version {latest_version() + 1} is newer than this program's {latest_version()}"),
    ("older", "is older than this program's"),
    ("no-postgis", "the PostGIS extension is missing"),
])
def test_bad_configuration_stops_the_server_at_start_with_one_line(breakage, message, pg_url, pg_empty_url, monkeypatch,
                                                                   tmp_path):
    url = {"unreachable": f"postgresql://postgres@/nowhere?host={tmp_path}&port=5999", "empty": pg_empty_url}.get(breakage, pg_url)
    if breakage == "newer":
        _newer_schema(url)
    elif breakage == "no-postgis":
        _no_postgis(url)
    elif breakage == "older":
        monkeypatch.setattr("geo.registry.postgis.latest_version", lambda: latest_version() + 1)
    result = serve_in(url, "en_US.UTF-8", monkeypatch)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def serve_in(url, locale, monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", locale)
    monkeypatch.setenv("STATIONMAP_TILES", "none")
    return CliRunner().invoke(main, ["serve", "--store", url, "--port", "1"])


@pytest.mark.parametrize("breakage,message", [
    ("unreachable", "无法连接 PostgreSQL"),
    ("empty", "还没有站点登记的表；请先运行 `stationmap db upgrade --store URL`"),
])
def test_a_chinese_locale_gets_the_same_one_line_in_chinese(breakage, message, pg_empty_url, monkeypatch, tmp_path):
    url = {"unreachable": f"postgresql://postgres@/nowhere?host={tmp_path}&port=5999", "empty": pg_empty_url}[breakage]
    result = serve_in(url, "zh_CN.UTF-8", monkeypatch)
    assert result.exit_code == 1
    assert "正在载入" in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("错误：")]
    assert len(lines) == 1 and message in lines[0] and "Error" not in result.output, result.output


def test_export_writes_geojson_to_standard_output(pg_url):
    result = run("db", "export", "--store", pg_url)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"type": "FeatureCollection", "registry_version": 0, "features": []}


def test_db_commands_refuse_a_file_path(registry_path):
    result = run("db", "status", "--store", str(registry_path))
    assert result.exit_code == 2 and "postgresql://" in result.output



def test_import_moves_accounts_tokens_secret_and_reports(pg_url, registry_path, districts, tmp_path):
    from geo.access.accounts import AccountStore
    from geo.registry import open_state
    from geo.reports.model import Submission
    from geo.reports.store import SQLiteReportStore
    from tests.portal_helpers import CHEAP_HASHER

    files = AccountStore(registry_path.with_name("accounts.json"), districts, hasher=CHEAP_HASHER)
    _, password = files.add("yuzhong", "district", "500103")
    token = files.issue_token("yuzhong", label="nightly import")
    files.end_sessions("yuzhong")
    registry_path.with_name(".secret_key").write_text("the-file-secret")
    SQLiteReportStore(registry_path.with_name("reports.sqlite")).submit(
        Submission("500103-OS-0001", "500103", "测试驿站0001", "closed"))

    result = run("db", "import", str(registry_path), "--store", pg_url)
    assert result.exit_code == 0, result.output
    assert "已导入 1 个账号（1 个令牌）和 1 条反馈" in result.output
    status = run("db", "status", "--store", pg_url)
    assert "1 个账号、1 条反馈" in status.output

    state = open_state(pg_url)
    moved = AccountStore(None, districts, hasher=CHEAP_HASHER, records=state.accounts())
    assert moved.get("yuzhong") == files.get("yuzhong")  # hashes, tokens, session generation
    assert moved.authenticate("yuzhong", password).name == "yuzhong"
    assert moved.verify_token(token).name == "yuzhong"  # the token key came along
    assert state.secret("secret_key", None, lambda: "new") == "the-file-secret"
    state.close()
    again = run("db", "import", str(registry_path), "--store", pg_url)
    assert again.exit_code == 1


def test_accounts_cli_works_against_the_database(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("STATIONMAP_ACCOUNTS", str(tmp_path / "accounts.json"))
    added = run("accounts", "add", "--role", "district", "--district", "500103", "yuzhong", "--store", pg_url)
    assert added.exit_code == 0, added.output
    token = run("users", "token", "issue", "yuzhong", "--store", pg_url)
    assert token.exit_code == 0, token.output
    listed = run("users", "list", "--json", "--store", pg_url)
    assert json.loads(listed.output)[0]["name"] == "yuzhong" and len(json.loads(listed.output)[0]["tokens"]) == 1
    assert run("users", "disable", "yuzhong", "--store", pg_url).exit_code == 0
    assert json.loads(run("users", "list", "--json", "--store", pg_url).output)[0]["disabled"] is True
    assert list(tmp_path.iterdir()) == []  # nothing in the accounts file's place
    assert json.loads(run("users", "list", "--json").output) == []  # the file store has its own accounts
    bad = run("users", "list", "--store", pg_url.replace("/t_", "/missing_"))
    assert bad.exit_code == 1 and "Traceback" not in bad.output
