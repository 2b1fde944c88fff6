"""The production server against slow and greedy clients: header and body deadlines, a cap per address, 414 with the envelope, its own control socket."""

from __future__ import annotations

import json
import socket
import time

import pytest

from stationmap.serve import control_socket_path
from tests.stationmap.test_serve import QUERY, serve  # noqa: F401 - the fixture

# Real `stationmap serve` processes on sockets: seconds each, so outside the quick suite (./run.sh test runs them).
pytestmark = pytest.mark.slow


def _read_all(sock) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return data
        data += chunk


def test_long_query_string_is_414_with_the_envelope_on_the_api_and_a_page_elsewhere(serve):  # noqa: F811
    start, _ = serve
    server = start(1)
    status, headers, body = server.request("/api/nearest?lon=106.5&lat=29.5&pad=" + "x" * 9000)
    assert status == 414
    assert headers["Content-Type"] == "application/json"
    envelope = json.loads(body)
    assert envelope["ok"] is False and envelope["status"] == 414 and "8 kB" in envelope["errors"][0]["message"]
    status, headers, body = server.request("/stations?q=" + "x" * 9000)
    assert status == 414 and headers["Content-Type"].startswith("text/html") and "过长".encode() in body


def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_deadline(serve):  # noqa: F811
    start, _ = serve
    deadline = 3.0
    # A per-read timeout of 2 s: a byte every second never trips it; the header deadline does.
    server = start(1, "--idle-timeout", "2", "--header-timeout", str(deadline))
    with socket.create_connection(("127.0.0.1", server.port), timeout=deadline + 10) as slow:
        started = time.monotonic()
        answer = b""
        slow.settimeout(1.0)
        for byte in b"GET /api/nearest?lon=106.5&lat=29.5 HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100:
            try:
                slow.sendall(bytes([byte]))
                answer = slow.recv(1 << 16)
                break  # the server answered (408) and closed
            except TimeoutError:
                continue
            except OSError:
                break
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert deadline - 0.5 < waited < deadline + 4
    # Meanwhile, and after, riders are answered.
    assert server.request(QUERY)[0] == 200


def hold_connections(port: int, n: int, tries: int = 10) -> list[socket.socket]:
    """``n`` kept-alive connections, each answered once (so surely accepted and counted). The
    server's own readiness checks may still be counted for a moment after they close: retry."""
    for _ in range(tries):
        held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(n)]
        answers = []
        for sock in held:
            sock.sendall(f"GET {QUERY} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answers.append(sock.recv(1 << 16))
        if all(a.startswith(b"HTTP/1.1 200") for a in answers):
            return held
        for sock in held:
            sock.close()
        time.sleep(0.5)
    raise AssertionError("could not hold the connections under the cap")


def test_connections_beyond_the_cap_per_address_get_429_and_others_still_work(serve):  # noqa: F811
    start, _ = serve
    server = start(1, "--max-connections-per-address", "3")
    held = hold_connections(server.port, 3)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as extra:
            answer = _read_all(extra)
        assert answer.startswith(b"HTTP/1.1 429") and b"Retry-After: 10" in answer
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["status"] == 429
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert server.request(QUERY)[0] == 200


def test_a_body_trickled_slowly_is_cut_off_at_the_deadline(serve):  # noqa: F811
    start, _ = serve
    server = start(1, "--idle-timeout", "2", "--body-timeout", "2")
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as slow:
        # POST /api/plan is public and reads its multipart body at once.
        slow.sendall(b"POST /api/plan HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"candidates\"; "
                     b"filename=\"c.csv\"\r\n\r\n")
        started = time.monotonic()
        answer = b""
        slow.settimeout(1.0)
        for _ in range(30):
            try:
                slow.sendall(b"a")
                chunk = slow.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                break
            answer += chunk
            if not chunk or answer:
                break
        waited = time.monotonic() - started
    # The body deadline ends it (the app sees a broken body: 400), not the client's patience.
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
    assert 1.5 < waited < 6, waited
    assert server.request(QUERY)[0] == 200


def test_each_server_has_its_own_control_socket(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    one, two = control_socket_path("127.0.0.1", 8000), control_socket_path("127.0.0.1", 8001)
    assert one != two and "/.gunicorn/" not in one
    assert (tmp_path / next(p for p in tmp_path.iterdir()).name).stat().st_mode & 0o777 == 0o700
