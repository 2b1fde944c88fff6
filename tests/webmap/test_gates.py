"""Expensive work is bounded: a full gate answers 503 + Retry-After at once (envelope on the API, a page on the site), never queues without bound."""

from __future__ import annotations

import io
import threading

import pytest

from tests.conftest import make_test_app
from tests.portal_helpers import YUZHONG_ROW, bearer, csv_bytes, login
from webmap.core.gates import BusyError, WorkGate

pytest_plugins = ("tests.portal_fixtures",)


def test_gate_runs_jobs_and_refuses_beyond_slots_and_queue():
    gate = WorkGate("plan", slots=1, queue=1, wait_s=5.0)
    assert gate.run(lambda x: x * 2, 21) == 42
    inside, release = threading.Event(), threading.Event()
    waiter_result = []

    def hold():
        inside.set()
        release.wait(5)
        return "held"

    holder = threading.Thread(target=lambda: gate.run(hold))
    holder.start()
    assert inside.wait(5)
    waiter = threading.Thread(target=lambda: waiter_result.append(gate.run(lambda: "queued")))
    waiter.start()
    for _ in range(500):  # until the waiter is queued
        if gate.waiting == 1:
            break
        threading.Event().wait(0.01)
    assert gate.waiting == 1 and gate.running == 1
    with pytest.raises(BusyError):  # one running, one waiting: the third is refused at once
        gate.run(lambda: "never")
    release.set()
    holder.join(5)
    waiter.join(5)
    assert waiter_result == ["queued"] and gate.refused == 1 and gate.running == 0


def test_gate_wait_is_bounded_in_time():
    gate = WorkGate("upload", slots=1, queue=5, wait_s=0.05)
    assert gate._free.acquire(blocking=False)
    with pytest.raises(BusyError):
        gate.run(lambda: "never")
    assert gate.waiting == 0


def _fill(app, kind):
    gate = app.extensions["stationmap.gates"][kind]
    gate.queue, gate.wait_s = 0, 0.01
    for _ in range(gate.slots):
        assert gate._free.acquire(blocking=False)
    return gate


def _empty(gate):
    for _ in range(gate.slots):
        gate._free.release()


def test_busy_upload_is_503_with_envelope_and_retry_after(registry_path, tmp_path, accounts, tokens):
    app = make_test_app(registry_path, tmp_path, ACCOUNTS=accounts)
    gate = _fill(app, "upload")
    try:
        client = app.test_client()
        data = {"file": (io.BytesIO(csv_bytes(YUZHONG_ROW)), "s.csv"), "crs": "wgs84"}
        response = client.post("/api/uploads?lang=zh", headers=bearer(tokens["yuzhong"]), data=data,
                               content_type="multipart/form-data")
        assert response.status_code == 503
        body = response.get_json()
        assert body["ok"] is False and body["status"] == 503 and body["errors"][0]["where"] == "upload"
        assert "服务器正忙" in body["errors"][0]["message"]
        assert int(response.headers["Retry-After"]) > 0
    finally:
        _empty(gate)


def test_busy_sign_in_is_a_page_with_retry_after(registry_path, tmp_path, accounts, tokens):
    app = make_test_app(registry_path, tmp_path, ACCOUNTS=accounts)
    gate = _fill(app, "password")
    try:
        response = login(app.test_client(), "yuzhong")
        assert response.status_code == 503 and response.mimetype == "text/html"
        assert 'class="error-code"' in response.get_data(as_text=True) and response.headers["Retry-After"]
    finally:
        _empty(gate)
