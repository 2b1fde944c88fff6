"""With a postgresql:// store, everything the app keeps lives in the database: two apps on one database
(two app servers) share sessions' generations, sign-in throttles, upload drafts, Idempotency-Key records,
reports and the secret key, and no local state file is written."""

from __future__ import annotations

import io
import re

import pytest

from geo.access.accounts import AccountStore
from geo.registry.postgis import import_registry
from geo.registry.state_pg import PostgresState
from tests.conftest import DISTRICTS_PATH, SMALL_REGISTRY
from tests.portal_helpers import CHEAP_HASHER, PASSWORD, YUZHONG_ROW, csrf_token, csv_bytes, login


@pytest.fixture
def database(pg_url):
    import_registry(pg_url, SMALL_REGISTRY, 0, [])
    state = PostgresState(pg_url)
    accounts = AccountStore(None, records=state.accounts(), hasher=CHEAP_HASHER)
    accounts.add("yuzhong", "district", "500103")
    accounts.set_password("yuzhong", PASSWORD)
    yield pg_url
    state.close()


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return path


def server(url, data_dir):
    """One app server over the database; every local place it could write points into ``data_dir``."""
    from webmap import create_app

    return create_app({
        "TESTING": True, "STORE_URL": url, "DISTRICTS_PATH": str(DISTRICTS_PATH), "TILE_PROVIDER": "none",
        "SECRET_KEY": "",  # generated once, kept in the database
        "REGISTRY_PATH": str(data_dir / "stations.geojson"), "ACCOUNTS_PATH": str(data_dir / "accounts.json"),
        "SECRET_KEY_FILE": str(data_dir / ".secret_key"), "UPLOAD_STASH_DIR": str(data_dir / "stash"),
        "PLAN_CANDIDATES_DIR": str(data_dir / "candidates"),
    })


@pytest.fixture
def servers(database, data_dir):
    a, b = server(database, data_dir), server(database, data_dir)
    yield a, b
    for app in (a, b):
        from webmap.core.state import get_store

        with app.app_context():
            get_store().close()


def move_session(source, target) -> None:
    """What a load balancer does: the browser's next request, with the same cookie, lands on the other server."""
    target.set_cookie("session", source.get_cookie("session").value)


def test_sign_in_on_a_works_on_b_and_sign_out_on_a_ends_it_on_b(servers):
    a, b = (app.test_client() for app in servers)
    assert servers[0].secret_key == servers[1].secret_key  # made by the first, read by the second
    assert login(a, "yuzhong").status_code == 302
    move_session(a, b)
    assert b.get("/portal/stations").status_code == 200
    copied = b.get_cookie("session").value
    a.post("/logout", data={"csrf_token": csrf_token(a, "/logout")})
    b.set_cookie("session", copied)  # the copied cookie, still in another browser
    refused = b.get("/portal/stations")
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]


def test_failed_sign_ins_are_counted_across_servers(servers):
    a, b = (app.test_client() for app in servers)
    answers = [login((a, b)[i % 2], "yuzhong", "wrong password!!").status_code for i in range(6)]
    assert answers == [401] * 5 + [429]
    assert login(a, "yuzhong").status_code == 429  # even the right password waits for the window


def test_a_dry_run_on_one_server_commits_once_on_the_other(servers, database, districts):
    a, b = (app.test_client() for app in servers)
    login(a, "yuzhong")
    move_session(a, b)
    page = a.post("/upload", data={"csrf_token": csrf_token(a, "/upload"), "crs": "wgs84",
                                   "file": (io.BytesIO(csv_bytes(YUZHONG_ROW)), "台账.csv")},
                  content_type="multipart/form-data")
    token = re.search(r'name="token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    form = {"csrf_token": csrf_token(b, "/upload"), "token": token, "idempotency_key": "retry-key-0001"}
    first = b.post("/upload/commit", data=form)
    assert first.status_code == 302
    move_session(b, a)  # the browser's cookie now carries B's CSRF token
    replay = a.post("/upload/commit", data=form)  # the retry lands on the other server: the first answer again
    assert replay.status_code == 302 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"]
    from geo.registry import open_store

    store = open_store(database, districts)
    assert len(store.snapshot()) == len(SMALL_REGISTRY) + 1  # committed once
    store.close()


def test_reports_go_to_the_database(servers):
    a, b = (app.test_client() for app in servers)
    sent = a.post("/api/reports", json={"station_id": "500103-OS-0001", "category": "closed"})
    assert sent.status_code == 201, sent.get_json()
    code = sent.get_json()["code"] if "code" in sent.get_json() else sent.get_json()["report"]["code"]
    assert b.get(f"/api/reports/{code}").status_code == 200


def test_no_local_state_file_is_written(servers, data_dir, database):
    a, b = (app.test_client() for app in servers)
    login(a, "yuzhong", "wrong password!!")
    login(a, "yuzhong")
    a.post("/upload", data={"csrf_token": csrf_token(a, "/upload"), "crs": "wgs84",
                            "file": (io.BytesIO(csv_bytes(YUZHONG_ROW)), "台账.csv")}, content_type="multipart/form-data")
    a.post("/api/reports", json={"station_id": "500103-OS-0001", "category": "closed"})
    planned = b.post("/api/plan", data={"candidates": (io.BytesIO(b"lon,lat\n106.57,29.56\n"), "c.csv")},
                     content_type="multipart/form-data")
    assert planned.status_code == 200, planned.get_data(as_text=True)[:300]
    assert sorted(p.name for p in data_dir.rglob("*")) == []
    import psycopg

    with psycopg.connect(database) as conn:
        held = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
                for table in ("accounts", "app_secrets", "rate_counters", "upload_drafts", "planner_inputs", "reports")}
    assert all(held.values()), held  # each piece went to its table
