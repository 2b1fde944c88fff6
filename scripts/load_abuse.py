"""Riders' latency while someone attacks the server: each known attack against a quiet baseline, in one run.

Starts ``stationmap serve`` (2 gevent workers, the bundled sample registry copied to a
temporary directory, one district account with an API token) on a free loopback port. For
each phase, riders query ``/api/nearest`` at random points in the urban area while an
attacker runs from a few other loopback addresses (127.0.0.2 and up). Riders are many people,
each phone on its own address: the rider load (a lean keep-alive client in a process of its
own, ``--rider-connections`` at once) comes from ``--rider-addresses`` loopback addresses
(127.0.1.1 and up), a connection per address for ``--requests-per-connection`` requests, so
each address stays well under the server's per-address request budget while an attacker's few
addresses do not. The baseline is measured the same way in the same run. Every phase is
bounded in time (``--seconds``) and every attacker in count. Quiet baselines of the same
length run before the first attack and after each one, and each attack is compared with the
mean of the quiet runs either side (other sessions' load on the shared cores drifts within a
run). Prints one table: attack, the quiet req/s either side and their worse p99, riders'
p50/p99 and req/s under attack (and its share of the quiet mean), and how the server
answered the attacker, with the machine's load average before and after.

``--pool 0`` runs the server with uploads read in its worker's threads instead of its pool of
separate niced processes (``STATIONMAP_WORK_POOL=0``): the pool's benchmark.

The attacks, from issue 14: nearest queries from far away (London, the antipode, the poles);
made-up bearer tokens; ~500 connections trickling header bytes; 4 XLSX uploads at once with
9 million shared strings; 6 planning clients sending slightly different radii at once.

Example:
    python scripts/load_abuse.py                     # 6 s per phase, ~1 minute
    python scripts/load_abuse.py --seconds 10 --rider-connections 8
    python scripts/load_abuse.py --pool 0            # the same without the process pool
"""

from __future__ import annotations

import argparse
import collections
import http.client
import io
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_web import URBAN_BBOX, Gunicorn, latency_summary, run_threads, table  # noqa: E402

FAR_POINTS = [(-0.13, 51.51), (-73.43, -29.56), (0.0, 90.0), (0.0, -90.0), (180.0, 0.0), (151.21, -33.87),
              (-72.3, -30.1), (-180.0, -45.0)]
MADE_UP_TOKEN = "smt_0123456789ab_" + "A" * 43


# -- riders ----------------------------------------------------------------------------------


def rider_addresses(n: int) -> list[str]:
    """``n`` loopback addresses for riders, 127.0.1.1 and up (attackers use 127.0.0.x)."""
    return [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(n)]


def _read_response(sock, buffer: bytearray) -> tuple[int, bool]:
    """One HTTP/1.1 response from ``sock``: its status and whether the connection stays open."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        rest += chunk
    buffer[:] = rest[length:]
    return status, keep


def ride(port: int, seconds: float, connections: int, addresses: int, per_connection: int) -> dict:
    """Riders' load: ``connections`` keep-alive connections at once, each from the next of
    ``addresses`` loopback addresses for ``per_connection`` requests, for ``seconds``."""
    minlon, minlat, maxlon, maxlat = URBAN_BBOX
    rng = random.Random(7)
    requests = [(f"GET /api/nearest?lon={rng.uniform(minlon, maxlon):.6f}&lat={rng.uniform(minlat, maxlat):.6f} "
                 f"HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode() for _ in range(4096)]
    sources = itertools.cycle(rider_addresses(addresses))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: collections.Counter = collections.Counter()
    deadline = time.perf_counter() + seconds

    def rider(seed: int) -> None:
        mine, counts, n = [], collections.Counter(), seed * 977
        while time.perf_counter() < deadline:
            with lock:
                source = next(sources)
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
            except OSError as exc:
                counts[type(exc).__name__] += 1
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffer = bytearray()
            try:
                for _ in range(per_connection):
                    if time.perf_counter() >= deadline:
                        break
                    n += 1
                    started = time.perf_counter()
                    sock.sendall(requests[n % len(requests)])
                    status, keep = _read_response(sock, buffer)
                    counts[status] += 1
                    if status == 200:
                        mine.append(time.perf_counter() - started)
                    if not keep:
                        break
            except OSError as exc:
                counts[type(exc).__name__] += 1
            finally:
                sock.close()
        with lock:
            latencies.extend(mine)
            statuses.update(counts)

    wall = run_threads(rider, connections)
    return latency_summary(latencies, wall) | {"errors": sum(v for k, v in statuses.items() if k != 200),
                                               "statuses": {str(k): v for k, v in statuses.items()}}


def riders(port: int, seconds: float, args) -> dict:
    """``ride`` in a process of its own, so the attackers' threads here do not share its GIL."""
    command = [sys.executable, __file__, "--ride", str(port), "--seconds", str(seconds),
               "--rider-connections", str(args.rider_connections), "--rider-addresses", str(args.rider_addresses),
               "--requests-per-connection", str(args.requests_per_connection)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    return json.loads(out)


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


# -- attackers -------------------------------------------------------------------------------


class Attack:
    """An attacker running in threads until ``stop`` is set; counts answers by status."""

    def __init__(self, name: str, threads: int, source: int):
        self.name, self.threads, self.source = name, threads, source
        self.stop = threading.Event()
        self.answers: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._connections: dict[int, http.client.HTTPConnection] = {}

    def count(self, what) -> None:
        with self._lock:
            self.answers[what] += 1

    def address(self, i: int) -> str:
        return f"127.0.0.{self.source + i % 8}"

    def start(self, port: int) -> None:
        self._workers = [threading.Thread(target=self.run, args=(port, i), daemon=True) for i in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def finish(self) -> str:
        self.stop.set()
        for worker in self._workers:
            worker.join(timeout=30)
        return ", ".join(f"{k}×{v}" for k, v in sorted(self.answers.items(), key=lambda kv: -kv[1])) or "none"

    def request(self, port, i, method, path, body=None, headers=None, timeout=30):
        """One request on this thread's kept-alive connection (a full-speed attacker reuses its
        connections, as wrk does), opened again after the server closes it."""
        conn = self._connections.get(i)
        if conn is None:
            conn = self._connections[i] = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                                                     source_address=(self.address(i), 0))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            response.read()
            self.count(response.status)
            if response.will_close:
                conn.close()
                del self._connections[i]
        except (OSError, http.client.HTTPException) as exc:
            self.count(type(exc).__name__)
            conn.close()
            del self._connections[i]

    def run(self, port: int, i: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


WRK_ATTACK = """
local threads = {}
local paths = {%(paths)s}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {}; n = 0 end
function request()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1], {%(headers)s})
end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("STATUS %%d %%d\\n", k, v)) end
end
"""


class WrkAttack(Attack):
    """A full-speed attacker in wrk (C: it spends far less of the shared CPU than Python threads would)."""

    def __init__(self, name, connections, paths, headers=None):
        super().__init__(name, 1, 0)
        self.connections, self.paths, self.headers = connections, paths, headers or {}
        self.process = None

    def start(self, port: int) -> None:
        script = WRK_ATTACK % {"paths": ", ".join(f'"{p}"' for p in self.paths),
                               "headers": ", ".join(f'["{k}"] = "{v}"' for k, v in self.headers.items())}
        self.script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        self.script.write(script)
        self.script.close()
        self.process = subprocess.Popen([shutil.which("wrk"), "-t1", f"-c{self.connections}", "-d120s", "-s", self.script.name,
                                         f"http://127.0.0.1:{port}"], stdout=subprocess.PIPE, text=True)

    def finish(self) -> str:
        self.process.send_signal(signal.SIGINT)  # wrk prints its summary (and our done()) on SIGINT
        out, _ = self.process.communicate(timeout=30)
        os.unlink(self.script.name)
        for line in out.splitlines():
            if line.startswith("STATUS "):
                _, status, count = line.split()
                self.answers[int(status)] += int(count)
        return ", ".join(f"{k}×{v}" for k, v in sorted(self.answers.items(), key=lambda kv: -kv[1])) or "none"


class FarNearest(Attack):
    def run(self, port, i):
        for lon, lat in itertools.cycle(FAR_POINTS):
            if self.stop.is_set():
                return
            self.request(port, i, "GET", f"/api/nearest?lon={lon}&lat={lat}&k=5")


class MadeUpTokens(Attack):
    def run(self, port, i):
        while not self.stop.is_set():
            self.request(port, i, "GET", "/api/audit", headers={"Authorization": f"Bearer {MADE_UP_TOKEN}"})


def far_attack() -> Attack:
    if shutil.which("wrk"):
        return WrkAttack("far", 2, [f"/api/nearest?lon={lon}&lat={lat}&k=5" for lon, lat in FAR_POINTS])
    return FarNearest("far", 2, 2)


def token_attack() -> Attack:
    if shutil.which("wrk"):
        return WrkAttack("tokens", 8, ["/api/audit"], {"Authorization": f"Bearer {MADE_UP_TOKEN}"})
    return MadeUpTokens("tokens", 8, 10)


class SlowHeaders(Attack):
    """Each thread keeps ~60 connections open, sending one header byte per connection every 2 s."""

    per_thread = 60

    def run(self, port, i):
        sockets = []
        while not self.stop.is_set():
            while len(sockets) < self.per_thread and not self.stop.is_set():
                try:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(self.address(i), 0))
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                    sock.setblocking(False)
                    sockets.append(sock)
                except OSError as exc:
                    self.count(type(exc).__name__)
                    break
            alive = []
            for sock in sockets:
                try:
                    answer = sock.recv(64)
                    self.count(answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "closed")
                    sock.close()
                    continue
                except BlockingIOError:
                    pass
                except OSError:
                    self.count("reset")
                    sock.close()
                    continue
                try:
                    sock.sendall(b"X")
                    alive.append(sock)
                except OSError:
                    self.count("reset")
                    sock.close()
            sockets = alive
            self.stop.wait(2.0)
        for sock in sockets:
            sock.close()


def shared_strings_bomb(n: int) -> bytes:
    """A real workbook whose sharedStrings.xml holds ``n`` one-letter strings (a few hundred KB zipped)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["名称", "经度", "纬度"])
    raw = io.BytesIO()
    book.save(raw)
    source = zipfile.ZipFile(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != "xl/sharedStrings.xml":
                target.writestr(info.filename, source.read(info.filename))
        target.writestr("xl/sharedStrings.xml", (f'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                                                 f'count="{n}" uniqueCount="{n}">').encode()
                        + b"<si><t>a</t></si>" * n + b"</sst>")
    return out.getvalue()


class XlsxBombs(Attack):
    def __init__(self, name, threads, source, token: str, bomb: bytes):
        super().__init__(name, threads, source)
        self.token, self.bomb = token, bomb

    def run(self, port, i):
        boundary = f"bomb{i}"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"crs\"\r\n\r\nwgs84\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bomb.xlsx\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + self.bomb + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": f"multipart/form-data; boundary={boundary}"}
        while not self.stop.is_set():
            self.request(port, i, "POST", "/api/uploads", body=body, headers=headers, timeout=120)


class PlanningRadii(Attack):
    def run(self, port, i):
        for step in itertools.count():
            if self.stop.is_set():
                return
            radius = 1000 + 7 * (i * 1000 + step)  # never twice the same: defeats a cache keyed on the raw value
            self.request(port, i, "GET", f"/api/plan?new=5&radius_m={radius}&district=500112", timeout=120)


def start_server(workdir: Path) -> tuple[Gunicorn, str]:
    """``stationmap serve --workers 2`` over a copy of the sample registry, with one district account; its token."""
    registry = workdir / "stations.geojson"
    shutil.copy(ROOT / "data" / "stations.geojson", registry)
    accounts_path = workdir / "accounts.json"
    from geo.access.accounts import AccountStore

    accounts = AccountStore(accounts_path)
    accounts.add("yuzhong", "district", "500103")
    token = accounts.issue_token("yuzhong", label="load test")
    os.environ["STATIONMAP_ACCOUNTS"] = str(accounts_path)  # the server inherits this process's environment
    server = Gunicorn(registry, budget=None)  # the production budget: riders come from 1,000 addresses
    server.wait_ready(timeout=120)
    return server, token


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6, help="length of each phase (riders measured throughout)")
    parser.add_argument("--rider-connections", type=int, default=8, help="riders' connections open at once")
    parser.add_argument("--rider-addresses", type=int, default=1000, help="loopback addresses the riders come from")
    parser.add_argument("--requests-per-connection", type=int, default=10,
                        help="requests a rider sends on one keep-alive connection before the next address takes over")
    parser.add_argument("--bomb-strings", type=int, default=9_000_000, help="shared strings in the XLSX bomb")
    parser.add_argument("--pool", type=int, choices=(0, 1), default=1,
                        help="1: uploads read in the server's separate niced processes; 0: in its worker threads")
    parser.add_argument("--ride", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    seconds = max(2.0, min(args.seconds, 60.0))
    if args.ride:
        print(json.dumps(ride(args.ride, seconds, args.rider_connections, args.rider_addresses,
                              args.requests_per_connection)))
        return 0
    os.environ["STATIONMAP_WORK_POOL"] = str(args.pool)  # the server inherits this process's environment
    print(f"building the XLSX bomb ({args.bomb_strings:,} shared strings) …", file=sys.stderr)
    bomb = shared_strings_bomb(args.bomb_strings)
    with tempfile.TemporaryDirectory() as tmp:
        print("starting stationmap serve (2 workers) …", file=sys.stderr)
        server, token = start_server(Path(tmp))
        phases = [
            ("nearest from far away (2 connections)", far_attack()),
            ("made-up bearer tokens (8 connections)", token_attack()),
            ("~480 connections trickling headers", SlowHeaders("slow", 8, 20)),
            (f"4 XLSX bombs at once ({len(bomb) / 1e6:.1f} MB, {args.bomb_strings / 1e6:g} M strings)",
             XlsxBombs("xlsx", 4, 30, token, bomb)),
            ("6 planners, a new radius each time", PlanningRadii("plan", 6, 40)),
        ]
        rows = []
        try:
            riders(server.port, 2, args)  # warm: connections, caches
            print("phase: quiet …", file=sys.stderr)
            before, before_load = riders(server.port, seconds, args), load_average()
            for name, attack in phases:
                # Quiet baselines right before and right after each attack, the attack compared with
                # their mean: other sessions' load on the shared cores drifts within a run.
                print(f"phase: {name}, then quiet …", file=sys.stderr)
                attack.start(server.port)
                time.sleep(1.0)  # let it bite before riders are measured
                rider = riders(server.port, seconds, args)
                answers = attack.finish()
                time.sleep(1.5)  # let the server settle (and held-back refusals drain)
                after, after_load = riders(server.port, seconds, args), load_average()
                quiet_rps = (before["rps"] + after["rps"]) / 2
                share = rider.get("rps", 0) / quiet_rps * 100 if quiet_rps else float("nan")
                rows.append([name, f"{before['rps']:,.0f} / {after['rps']:,.0f}",
                             f"{max(before['p99_ms'], after['p99_ms']):.1f}",
                             f"{rider.get('p50_ms', float('nan')):.1f}", f"{rider.get('p99_ms', float('nan')):.1f}",
                             f"{rider.get('rps', 0):,.0f} ({share:.0f} %)", rider.get("errors", 0), answers,
                             f"{before_load} → {after_load}"])
                before, before_load = after, after_load
        finally:
            server.stop()
    pool = "uploads read in separate niced processes" if args.pool else "uploads read in worker threads (--pool 0)"
    print(f"\n## Riders' /api/nearest under attack (python client: {args.rider_connections} connections from "
          f"{args.rider_addresses} addresses, {args.requests_per_connection} requests each; {seconds:g} s per phase; "
          f"2 gevent workers; {pool}; loopback)\n")
    print(table(["attack", "quiet req/s before / after", "quiet p99 ms", "rider p50 ms", "rider p99 ms",
                 "rider req/s (of quiet mean)", "rider errors", "attacker's answers", "load 1/5/15 min"], rows))
    print("\nTargets (issue 14): p99 ≤ 100 ms and ≥ 80 % of the baseline's req/s in every phase; "
          "uploads answered 2xx/4xx/503, never 500. Load average: other sessions share the cores.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
