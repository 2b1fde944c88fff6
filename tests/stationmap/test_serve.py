"""The production server, ``stationmap serve``, as riders' phones meet it: real gunicorn
processes on a free port, talked to over sockets."""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from geo.access.accounts import AccountStore
from geo.access.permissions import CLI_ACTOR
from geo.registry import GeoJSONFileStore, dump_feature_collection
from tests.conftest import ONE_ADDRESS_FOR_EVERYONE, SMALL_REGISTRY, make_station
from tests.portal_helpers import CHEAP_HASHER, YUZHONG_ROW, bearer, csv_bytes

# Real `stationmap serve` processes on sockets: seconds each, so outside the quick suite (./run.sh test runs them).
pytestmark = pytest.mark.slow

# A fixed moment, so that answers do not change when the minute does.
QUERY = "/api/nearest?lon=106.5716&lat=29.5538&k=3&at=2025-07-01T14:30"


def _free_port() -> int:
    """A port free now, below the kernel's range for outgoing connections (so that no client's connection
    takes it before the server binds it), in a band of its own per xdist worker (so that two workers'
    servers never pick the same one)."""
    try:
        ephemeral_low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
    band = 10_000 + (int(worker) % 8 if worker.isdigit() else 0) * 2_000
    candidates = list(range(band, min(band + 2_000, ephemeral_low)))
    random.shuffle(candidates)
    for port in candidates or [0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port")


class Server:
    def __init__(self, registry, workers: int, *options: str, env: dict | None = None):
        self.port = _free_port()
        # The test is one address for every client: a budget it never reaches (tests/conftest.py).
        env = dict(os.environ, STATIONMAP_TILES="none", STATIONMAP_SECRET_KEY="test-only",  # noqa: S106 - a throwaway server
                   STATIONMAP_ACCOUNTS=str(registry.with_name("accounts.json")),
                   STATIONMAP_REQUEST_BUDGET=ONE_ADDRESS_FOR_EVERYONE["REQUEST_BUDGET_PER_ADDRESS"]) | (env or {})
        self.log = registry.with_name(f"server-{self.port}.log")  # a file: a full pipe would stall the server
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from stationmap.cli import main; main()", "serve", "--port", str(self.port),
                 "--workers", str(workers), "--registry", str(registry), *options],
                env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.log.read_text()
            try:
                status, _, _ = self.request(QUERY)
                # This server's answer, not another's that took the port: it logged listening there.
                if status == 200 and f"Listening at: http://127.0.0.1:{self.port} " in self.log.read_text(errors="replace"):
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not answer within 60 s"
            time.sleep(0.2)

    def request(self, path: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
        """One request on a connection of its own."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def serve(tmp_path):
    registry = tmp_path / "stations.geojson"
    registry.write_bytes(dump_feature_collection(SMALL_REGISTRY))
    servers = []

    def start(workers: int = 2, *options: str, env: dict | None = None) -> Server:
        servers.append(Server(registry, workers, *options, env=env))
        return servers[-1]

    yield start, registry
    for server in servers:
        server.stop()


def test_workers_give_identical_answers_and_all_follow_a_registry_change(serve, districts):
    start, registry = serve
    server = start(workers=2)

    def answers():
        with ThreadPoolExecutor(8) as pool:  # concurrent, so both workers take some
            return list(pool.map(lambda _: server.request(QUERY), range(40)))

    def explained(answers):  # what each worker said, and the server's log, should this ever fail
        return {"statuses": sorted({status for status, _, _ in answers}),
                "bodies": [body[:400] for body in {body for _, _, body in answers}],
                "log": server.log.read_text(errors="replace")[-3000:]}

    before = answers()
    assert {status for status, _, _ in before} == {200}, explained(before)
    assert len({body for _, _, body in before}) == 1, explained(before)
    assert json.loads(before[0][2])["count"] == 3

    [new_id] = GeoJSONFileStore(registry, districts).add([make_station("500103-OS-0099", 106.5716, 29.5539)],
                                                         CLI_ACTOR)
    # Each worker's watcher builds the new version in the background and swaps it in (within a second).
    deadline = time.monotonic() + 10
    after = answers()
    while not all(new_id.encode() in body for _, _, body in after) and time.monotonic() < deadline:
        time.sleep(0.1)
        after = answers()
    assert len({body for _, _, body in after}) == 1, explained(after)
    nearest = json.loads(after[0][2])["features"][0]["properties"]
    assert nearest["id"] == new_id and nearest["distance_m"] < 20, explained(after)


def test_a_district_uploads_through_the_server_and_every_worker_finds_the_station(serve, districts):
    start, registry = serve
    accounts = AccountStore(registry.with_name("accounts.json"), districts, hasher=CHEAP_HASHER)
    accounts.add("yuzhong", "district", "500103")
    token = accounts.issue_token("yuzhong", label="tests")
    server = start(workers=2)
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(csv_bytes(YUZHONG_ROW)), "stations.csv"),
                                       "crs": "wgs84", "dry_run": "0"})
    status, _, answer = server.request("/api/uploads", "POST", body, {
        **bearer(token), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 201, answer
    [new_id] = json.loads(answer)["ids"]
    deadline = time.monotonic() + 10  # the other worker follows within a second (background swap)
    while True:
        with ThreadPoolExecutor(8) as pool:
            found = list(pool.map(lambda _: server.request("/api/nearest?lon=106.5850&lat=29.5640&k=1"), range(24)))
        if all(new_id.encode() in body for _, _, body in found) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {json.loads(body)["features"][0]["properties"]["id"] for _, _, body in found} == {new_id}


def test_a_phone_keeps_its_connection_for_the_next_request(serve):
    start, _ = serve
    server = start(workers=1)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        sockets = []
        for _ in range(3):
            connection.request("GET", QUERY)
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            assert response.getheader("Connection", "").lower() != "close"
            sockets.append(connection.sock)
        assert sockets[0] is not None and sockets.count(sockets[0]) == 3  # never reconnected
    finally:
        connection.close()


def test_a_silent_connection_is_closed_after_the_idle_timeout(serve):
    start, _ = serve
    server = start(1, "--idle-timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as kept:
        kept.sendall(f"GET {QUERY} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert kept.recv(1 << 16).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as silent:
            assert silent.recv(1) == b""  # closed by the server, not by our 10 s timeout
            waited = time.monotonic() - started
    assert 0.8 < waited < 5


def test_one_busy_connection_does_not_hold_up_another(serve):
    """A client pipelining many requests must not keep a second client waiting for all of
    them: with one worker, the second is answered while the first's answers still flow."""
    start, _ = serve
    # One address sending 1,000 requests at once is what the per-address request budget refuses
    # (tests/webmap/test_budget.py); here the worker's fairness between connections is measured.
    server = start(workers=1, env={"STATIONMAP_REQUEST_BUDGET": ""})
    pipelined = 1000
    marker = b"HTTP/1.1 200 OK"
    answered = [0]
    busy = socket.create_connection(("127.0.0.1", server.port), timeout=30)

    def read_busy():
        tail = b""
        while answered[0] < pipelined:
            chunk = busy.recv(1 << 16)
            if not chunk:
                return
            data = tail + chunk
            answered[0] += data.count(marker)
            tail = data[-(len(marker) - 1):]

    reader = threading.Thread(target=read_busy)
    reader.start()
    try:
        request = f"GET {QUERY.replace('k=3', 'k=20')} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        busy.sendall(request * pipelined)
        status, _, _ = server.request(QUERY)
        answered_meanwhile = answered[0]
        reader.join(timeout=60)
    finally:
        busy.close()
    assert status == 200
    assert answered[0] == pipelined
    assert answered_meanwhile < pipelined // 2, (
        f"the second client waited for {answered_meanwhile} of the first one's {pipelined} answers")
