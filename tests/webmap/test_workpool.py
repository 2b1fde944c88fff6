"""Uploads are read in a few separate niced processes, bounded in memory and time (webmap.core.workpool, gates)."""

from __future__ import annotations

import io
import os
import threading

import pytest

from tests import workpool_jobs as jobs
from tests.conftest import make_test_app
from tests.portal_helpers import YUZHONG_ROW, bearer, csv_bytes
from webmap.core.gates import JobLimitExceeded, WorkGate
from webmap.core.workpool import JobLimitError, PoolFullError, WorkPool, shared_pool

pytest_plugins = ("tests.portal_fixtures",)


@pytest.fixture
def pool():
    pool = WorkPool(1, memory_mb=64, time_s=60)
    yield pool
    pool.close()


def hold_pool(pool, tmp_path):
    """Run a job that stays busy until the returned release() is called."""
    flag = tmp_path / "release"
    result = []
    thread = threading.Thread(target=lambda: result.append(pool.run(jobs.wait_for, str(flag))))
    thread.start()

    def release():
        flag.touch()
        thread.join(30)
        return result

    return release


def test_job_runs_in_another_process_at_nice_19(pool):
    pid, nice = pool.run(jobs.where_and_how_nice)
    assert pid != os.getpid() and nice == 19
    assert pool.run(jobs.where_and_how_nice)[0] == pid  # the child serves job after job
    with pytest.raises(ValueError, match="bad row"):  # a job's own exception comes back as is
        pool.run(jobs.fail, "bad row")
    assert pool.run(jobs.allocate, 16) == 16 * 2**20


def test_job_over_its_memory_allowance_is_stopped_and_named(pool):
    with pytest.raises(JobLimitError) as caught:
        pool.run(jobs.allocate, 256)
    assert caught.value.limit == "memory" and "64 MiB" in str(caught.value)
    assert pool.run(jobs.allocate, 1) == 2**20  # the pool goes on


def test_job_over_its_time_limit_is_killed_and_named(tmp_path):
    pool = WorkPool(1, memory_mb=64, time_s=0.5)
    try:
        first = pool.run(jobs.where_and_how_nice)[0]
        with pytest.raises(JobLimitError) as caught:
            pool.run(jobs.wait_for, str(tmp_path / "never"))
        assert caught.value.limit == "time"
        assert pool.run(jobs.where_and_how_nice)[0] != first  # killed and replaced
    finally:
        pool.close()


def test_full_pool_refuses_at_once(pool, tmp_path):
    pool.run(jobs.where_and_how_nice)
    release = hold_pool(pool, tmp_path)
    try:
        for _ in range(1000):  # until the holder's job is in the child
            if pool._busy == 1:
                break
            threading.Event().wait(0.01)
        with pytest.raises(PoolFullError):
            pool.run(jobs.where_and_how_nice)
    finally:
        assert release() == ["done"]


def test_gate_names_the_limit_of_a_stopped_job():
    gate = WorkGate("upload", slots=1, queue=0, wait_s=1.0, pool={"memory_mb": 32, "time_s": 60})
    with pytest.raises(JobLimitExceeded) as caught:
        gate.run_isolated(jobs.allocate, 128)
    problem = caught.value.problems[0]
    assert problem.where == "file" and "32 MiB" in problem.message
    assert gate.run_isolated(jobs.allocate, 1) == 2**20


def upload(app, token, data: bytes, name="s.csv"):
    return app.test_client().post("/api/uploads", headers=bearer(token), content_type="multipart/form-data",
                                  data={"file": (io.BytesIO(data), name), "crs": "wgs84"})


def test_upload_is_read_in_the_pool(registry_path, tmp_path, accounts, tokens):
    app = make_test_app(registry_path, tmp_path, ACCOUNTS=accounts)
    response = upload(app, tokens["yuzhong"], csv_bytes(YUZHONG_ROW))
    assert response.status_code == 200 and response.get_json()["valid"] is True
    options = app.extensions["stationmap.gates"]["upload"].pool_options
    pool = shared_pool(1, **options)
    assert pool._idle and pool._idle[0].alive()  # the file was read by a child, which waits for the next


def test_upload_over_the_jobs_time_limit_is_refused_naming_it_not_500(registry_path, tmp_path, accounts, tokens):
    app = make_test_app(registry_path, tmp_path, ACCOUNTS=accounts, GATE_UPLOAD_TIME_S=0.001)
    response = upload(app, tokens["yuzhong"], csv_bytes(YUZHONG_ROW))
    assert response.status_code == 200
    body = response.get_json()
    assert body["valid"] is False
    problems = body["report"]["problems"]
    assert "took longer than 0.001 s" in problems[0]["message"]


def test_upload_over_the_jobs_memory_limit_is_refused_naming_it_not_500(registry_path, tmp_path, accounts, tokens):
    app = make_test_app(registry_path, tmp_path, ACCOUNTS=accounts, GATE_UPLOAD_MEMORY_MB=1)
    rows = [YUZHONG_ROW.replace("朝天门驿站", f"驿站{i}").replace("29.5640", f"{29.5 + i * 1e-4:.4f}") for i in range(4000)]
    response = upload(app, tokens["yuzhong"], csv_bytes(*rows))
    assert response.status_code == 200
    problems = response.get_json()["report"]["problems"]
    assert "more than 1 MiB of memory" in problems[0]["message"]


def test_upload_while_the_pool_is_busy_is_503_with_retry_after(registry_path, tmp_path, accounts, tokens):
    app = make_test_app(registry_path, tmp_path, ACCOUNTS=accounts, GATE_UPLOAD_QUEUE=0)
    options = app.extensions["stationmap.gates"]["upload"].pool_options
    pool = shared_pool(1, **options)  # the same processes this app's uploads use, held by another job
    release = hold_pool(pool, tmp_path)
    try:
        for _ in range(1000):
            if pool._busy == 1:
                break
            threading.Event().wait(0.01)
        response = upload(app, tokens["yuzhong"], csv_bytes(YUZHONG_ROW))
        assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
        assert response.get_json()["errors"][0]["where"] == "upload"
    finally:
        assert release() == ["done"]


def test_planning_runs_in_the_pool_and_a_plan_over_its_limit_is_named_not_500(registry_path, tmp_path):
    path = "/api/plan?new=1&radius_m=1000&district=500103"
    app = make_test_app(registry_path, tmp_path)
    assert app.extensions["stationmap.gates"]["plan"].registry is not None  # the pool can reopen this registry
    assert app.test_client().get(path).status_code == 200
    slow = make_test_app(registry_path, tmp_path, GATE_PLAN_TIME_S=0.001)
    response = slow.test_client().get(path, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    error = response.get_json()["errors"][0]
    assert error["where"] == "plan" and "took longer than 0.001 s" in error["message"]
