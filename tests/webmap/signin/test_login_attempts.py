"""Sign-in counts in SQLite: the fixed-window semantics flask-limiter expects, shared by processes and apps."""

from __future__ import annotations

import multiprocessing

import pytest
from limits.storage import storage_from_string

from geo.registry import state_file
from tests.portal_helpers import login
from webmap.signin.attempts import SQLiteStorage

pytest_plugins = ("tests.portal_fixtures",)


@pytest.fixture
def clock(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(state_file, "_now", lambda: now[0])
    return now


@pytest.fixture
def storage(tmp_path):
    return storage_from_string(f"sqlite://{tmp_path / 'attempts.sqlite'}")


def test_the_sqlite_scheme_is_registered_with_limits(storage, tmp_path):
    assert isinstance(storage, SQLiteStorage) and storage.path == tmp_path / "attempts.sqlite"
    assert storage.check()
    with pytest.raises(ValueError, match="give a file"):
        SQLiteStorage("sqlite://")


def test_fixed_window_counts_expire_and_restart(storage, clock):
    assert storage.get("k") == 0 and storage.get_expiry("k") == clock[0]
    assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.incr("k", 60, amount=2) == 5
    assert storage.get("k") == 5 and storage.get_expiry("k") == clock[0] + 60
    clock[0] += 59.9
    assert storage.get("k") == 5  # the window does not slide with each hit
    clock[0] += 0.1
    assert storage.get("k") == 0 and storage.get_expiry("k") == clock[0]
    assert storage.incr("k", 60) == 1 and storage.get_expiry("k") == clock[0] + 60
    storage.incr("other", 60)
    storage.clear("k")
    assert storage.get("k") == 0 and storage.get("other") == 1
    assert storage.reset() == 1 and storage.get("other") == 0


def test_expired_counters_are_pruned(storage, clock):
    for i in range(5):
        storage.incr(f"address-{i}", 60)
    clock[0] += 61
    assert storage.prune() == 5
    assert storage._db().execute("SELECT COUNT(*) FROM counters").fetchone()[0] == 0


def _hit(uri: str, times: int) -> None:
    store = storage_from_string(uri)
    for _ in range(times):
        store.incr("shared", 3600)


def test_processes_share_the_counts(tmp_path):
    uri = f"sqlite://{tmp_path / 'attempts.sqlite'}"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_hit, args=(uri, 50)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert storage_from_string(uri).get("shared") == 200


def test_a_storage_made_before_fork_works_in_the_child(storage):
    storage.incr("k", 3600)  # the parent opens its connection
    context = multiprocessing.get_context("fork")
    child = context.Process(target=lambda: storage.incr("k", 3600))
    child.start()
    child.join(30)
    assert child.exitcode == 0 and storage.get("k") == 2


def test_two_workers_share_one_sign_in_limit(registry_path, tmp_path, accounts):
    # Two apps over the same accounts file stand for gunicorn's two worker processes.
    from tests.conftest import make_test_app

    workers = [make_test_app(registry_path, tmp_path, ACCOUNTS=accounts) for _ in range(2)]
    clients = [app.test_client() for app in workers]
    for attempt in range(5):
        assert login(clients[attempt % 2], "yuzhong", "wrong password!!").status_code == 401
    assert login(clients[1], "yuzhong").status_code == 429
    assert login(clients[0], "yuzhong").status_code == 429
