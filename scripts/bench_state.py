"""Benchmark the app-state pieces on both backends, side by side in one run: local files vs PostgreSQL.

What a request pays for the state that moved into the database with the PostgreSQL store
(``geo.registry.state_pg``), per operation, median and 99th percentile in microseconds:

- a signed-in request's account lookup (``AccountStore.get``: the session generation check);
- a bearer token check (``verify_token``: lookup by id + HMAC);
- one sign-in throttle hit (a ``limits`` fixed-window counter: the hand-written ``PostgresCounters``
  next to the SQLite one it mirrors; ``limits`` ships no SQL storage, and Redis would be a new service);
- an Idempotency-Key begin + finish; an upload draft save + claim.

Riders' requests (``/api/nearest``, the map) touch none of these. PostgreSQL: ``--pg postgresql://…``
(a superuser URL; a database is created per run) or a throwaway cluster like the tests'. Figures
are noisy on a shared machine: compare the two columns of one run, not runs.

Example:
    python scripts/bench_state.py --n 500
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(fn, n: int) -> tuple[float, float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def measure(state, folder: Path, n: int) -> dict[str, tuple[float, float]]:
    from limits import parse
    from limits.storage import storage_from_string
    from limits.strategies import FixedWindowRateLimiter

    from geo.access.accounts import AccountStore
    from geo.access.permissions import Actor
    from tests.portal_helpers import CHEAP_HASHER
    from webmap.portal.idempotency import IdempotencyStore
    from webmap.portal.stash import UploadStash

    accounts = AccountStore(folder / "accounts.json", hasher=CHEAP_HASHER, records=state.accounts(folder / "accounts.json"))
    for i in range(20):
        accounts.add(f"clerk{i:02d}", "admin")
    token = accounts.issue_token("clerk07")
    limiter = FixedWindowRateLimiter(storage_from_string(state.counters_uri(folder / ".login_attempts.sqlite")))
    limit = parse("1000000 per hour")
    keys = IdempotencyStore(None, 3600, 300, records=state.idempotency(folder / ".idempotency.sqlite"))
    stash = UploadStash(folder / "stash", 3600, drafts=state.drafts(folder / "stash"))
    actor = Actor("clerk07", "admin")

    class Answer:
        status_code, headers = 201, {"Content-Type": "application/json"}

        def get_data(self):
            return b'{"ok": true}'

    def idem(i):
        keys.begin("clerk07", f"key-{i:08d}", "f")
        keys.finish("clerk07", f"key-{i:08d}", Answer())

    return {
        "account lookup (session check)": timed(lambda i: accounts.get(f"clerk{i % 20:02d}"), n),
        "token check": timed(lambda i: accounts.verify_token(token), n),
        "throttle hit": timed(lambda i: limiter.hit(limit, "login-user", f"10.0.{i % 250}.1"), n),
        "Idempotency-Key begin + finish": timed(idem, n),
        "draft save + claim": timed(lambda i: stash.claim(stash.save(actor, "s.csv", "wgs84", b"x" * 2000, "fp"), actor), n),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=None, help="a superuser URL of a PostgreSQL server (default: a throwaway cluster)")
    parser.add_argument("--n", type=int, default=300, help="operations per figure")
    args = parser.parse_args(argv)

    from geo.registry.state_file import FileState
    from geo.registry.state_pg import PostgresState
    from tests.pg import create_database, make_template, start_cluster, stop_cluster

    cluster, server = (None, args.pg) if args.pg else start_cluster()
    try:
        make_template(server, "bench_state_template")
        url = create_database(server, "bench_state_template")
        with tempfile.TemporaryDirectory() as tmp:
            files = measure(FileState(), Path(tmp), args.n)
        state = PostgresState(url)
        with tempfile.TemporaryDirectory() as tmp:
            database = measure(state, Path(tmp), args.n)
        state.close()
    finally:
        if cluster is not None:
            stop_cluster(cluster)
    print(f"| operation (µs, median / p99, n={args.n}) | files | PostgreSQL |")
    print("| --- | --- | --- |")
    for name, (median, p99) in files.items():
        pg_median, pg_p99 = database[name]
        print(f"| {name} | {median:,.0f} / {p99:,.0f} | {pg_median:,.0f} / {pg_p99:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
