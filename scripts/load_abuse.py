"""Riders' latency while someone attacks the server: each known attack against a quiet baseline, in one run.

Starts ``stationmap serve`` (2 gevent workers, the bundled sample registry copied to a
temporary directory, one district account with an API token) on a free loopback port. For
each phase, riders query ``/api/nearest`` at random points in the urban area (wrk when
installed, else a threaded Python client, from 127.0.0.1) while an attacker runs from other
loopback addresses (127.0.0.2 and up, so the per-address connection cap treats them as the
strangers they would be). Every phase is bounded in time (``--seconds``) and every attacker
in count. Prints one table: attack, rider p50/p99, rider req/s (and its share of the
baseline), and how the server answered the attacker.

The attacks, from issue 14: nearest queries from far away (London, the antipode, the poles);
made-up bearer tokens; ~500 connections trickling header bytes; 4 XLSX uploads at once with
9 million shared strings; 6 planning clients sending slightly different radii at once.

Example:
    python scripts/load_abuse.py                     # 6 s per phase, ~1 minute
    python scripts/load_abuse.py --seconds 10 --rider-connections 8
"""

from __future__ import annotations

import argparse
import collections
import http.client
import io
import itertools
import os
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

from bench_web import Gunicorn, _load, table  # noqa: E402

FAR_POINTS = [(-0.13, 51.51), (-73.43, -29.56), (0.0, 90.0), (0.0, -90.0), (180.0, 0.0), (151.21, -33.87),
              (-72.3, -30.1), (-180.0, -45.0)]
MADE_UP_TOKEN = "smt_0123456789ab_" + "A" * 43


class Attack:
    """An attacker running in threads until ``stop`` is set; counts answers by status."""

    def __init__(self, name: str, threads: int, source: int):
        self.name, self.threads, self.source = name, threads, source
        self.stop = threading.Event()
        self.answers: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

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
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(self.address(i), 0))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            response.read()
            self.count(response.status)
        except OSError as exc:
            self.count(type(exc).__name__)
        finally:
            conn.close()

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
    server = Gunicorn(registry)
    server.wait_ready(timeout=120)
    return server, token


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=6, help="length of each phase (riders measured throughout)")
    parser.add_argument("--rider-connections", type=int, default=4)
    parser.add_argument("--bomb-strings", type=int, default=9_000_000, help="shared strings in the XLSX bomb")
    args = parser.parse_args(argv)
    seconds = max(2, min(args.seconds, 60))
    print(f"building the XLSX bomb ({args.bomb_strings:,} shared strings) …", file=sys.stderr)
    bomb = shared_strings_bomb(args.bomb_strings)
    with tempfile.TemporaryDirectory() as tmp:
        print("starting stationmap serve (2 workers) …", file=sys.stderr)
        server, token = start_server(Path(tmp))
        base = server.url
        phases = [
            ("no attack (baseline)", None),
            ("nearest from far away (2 connections)", far_attack()),
            ("made-up bearer tokens (8 connections)", token_attack()),
            ("~480 connections trickling headers", SlowHeaders("slow", 8, 20)),
            (f"4 XLSX bombs at once ({len(bomb) / 1e6:.1f} MB, {args.bomb_strings / 1e6:g} M strings)",
             XlsxBombs("xlsx", 4, 30, token, bomb)),
            ("6 planners, a new radius each time", PlanningRadii("plan", 6, 40)),
        ]
        rows, baseline = [], None
        try:
            _load(base, "", 2, args.rider_connections)  # warm: connections, caches
            for name, attack in phases:
                print(f"phase: {name} …", file=sys.stderr)
                if attack is not None:
                    attack.start(server.port)
                    time.sleep(1.0)  # let it bite before riders are measured
                rider = _load(base, "", seconds, args.rider_connections)
                answers = attack.finish() if attack is not None else "—"
                baseline = baseline or rider
                share = rider.get("rps", 0) / baseline["rps"] * 100 if baseline.get("rps") else float("nan")
                rows.append([name, f"{rider.get('p50_ms', float('nan')):.1f}", f"{rider.get('p99_ms', float('nan')):.1f}",
                             f"{rider.get('rps', 0):,.0f} ({share:.0f} %)", rider.get("errors", 0), answers])
                time.sleep(1.0)  # let the server settle between phases
        finally:
            server.stop()
    tool = "wrk" if shutil.which("wrk") else "python client"
    print(f"\n## Riders' /api/nearest under attack ({tool}, {args.rider_connections} connections, {seconds} s per phase, "
          f"2 gevent workers, loopback)\n")
    print(table(["attack", "rider p50 ms", "rider p99 ms", "rider req/s (of baseline)", "rider errors",
                 "attacker's answers"], rows))
    print("\nTargets (issue 14): p99 ≤ 100 ms and ≥ 80 % of the baseline's req/s in every phase; "
          "uploads answered 2xx/4xx/503, never 500.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
