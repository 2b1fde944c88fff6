"""Time the finder's place search (geo.queries.search) against the implementation it replaced.

Prints, per registry, old way against new way in the same run: building the gazetteer from a
fresh snapshot, working it out again for the next version after a write of a few stations
(``Snapshot.with_changes``; the old way built it afresh), the resident memory the build adds, and
per query the median and worst time over repeated runs, with whether both found the same places;
and pypinyin itself against the compact copy of its dictionaries search reads with (geo.queries.pinyin).
The old way is ``ReferenceGazetteer`` in tests/geo/queries/test_search_equivalence.py (a Place per
station, a Python loop over all of them per query).

Targets at 200,000 stations: build ≤ 2 s, next version ≤ 50 ms, ≤ 40 MB, a query ≤ 20 ms.

examples:
  python scripts/bench_search.py
  python scripts/bench_search.py --big /tmp/stationmap-bench-200000.geojson
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.districts import Districts  # noqa: E402
from geo.paths import DATA_DIR  # noqa: E402
from geo.queries.search import build_gazetteer, gazetteer_for  # noqa: E402
from geo.registry import GeoJSONFileStore  # noqa: E402
from geo.registry.snapshot import release_freed_memory  # noqa: E402
from tests.geo.queries.test_search_equivalence import reference_gazetteer  # noqa: E402

QUERIES = ("解放碑", "观音桥街道", "体育二路", "渝北", "石桥铺", "快递小哥之家", "环卫工人爱心驿站", "无此地名xyz",  # Chinese
           "jfb", "hwgr", "cqyh",  # pinyin initials
           "jiefangbei", "huanwei", "chongqing",  # full pinyin
           "站", "驿站", "重庆", "路", "a", "z")  # one or two characters most names have
REPEAT = 20
OLD_REPEAT = 3


def rss_mb() -> float:
    gc.collect()
    release_freed_memory()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def timed(fn, repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), max(runs)


def built(fn) -> tuple[object, float, float]:
    """(result, milliseconds, MB of resident memory added)."""
    before = rss_mb()
    start = time.perf_counter()
    value = fn()
    ms = (time.perf_counter() - start) * 1000
    return value, ms, rss_mb() - before


def held_mb(gazetteer) -> float:
    """What the new gazetteer's joined strings and arrays take (the big part of what it holds)."""
    total = 0
    for part in (gazetteer.head, gazetteer.stations):
        for rows in (part.names, part.details, part.initials, part.pinyin):
            total += sys.getsizeof(rows.text) + rows.starts.nbytes
        total += part.ids.nbytes + sum(order.nbytes for order in part.by_text)
    return (total + gazetteer.groups.sub.nbytes + gazetteer.groups.street.nbytes) / 2**20


def write_a_few(snapshot) -> list[dict]:
    """Five stations renamed, moved and given a new address, one closed, one added."""
    changed = []
    for k, i in enumerate(range(0, len(snapshot), max(1, len(snapshot) // 5))[:5]):
        f = snapshot.features[i]
        f["properties"]["name"] = f"渝中区解放碑环卫工人爱心驿站（{k}号新站）"
        f["properties"]["address"] = f"重庆市渝中区解放碑街道民族路{k}号"
        f["geometry"]["coordinates"] = [106.577 + k * 1e-3, 29.557]
        changed.append(f)
    closed = snapshot.features[len(snapshot) // 2]
    closed["properties"]["status"] = "closed"
    added = copy.deepcopy(snapshot.features[1])
    added["properties"]["id"] = "500103-OS-9999"
    return [*changed, closed, added]


def bench(path: Path, districts: Districts) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        copied = Path(tmp) / "stations.geojson"
        shutil.copy(path, copied)
        snapshot = GeoJSONFileStore(copied, districts).snapshot()
    label = f"{path.name} ({len(snapshot):,})"
    new, new_ms, new_mb = built(lambda: gazetteer_for(snapshot))
    old, old_ms, old_mb = built(lambda: reference_gazetteer(snapshot))
    rows = [(label, "build from a fresh snapshot", old_ms, old_ms, new_ms, new_ms, ""),
            (label, "memory added (MB, resident)", old_mb, old_mb, new_mb, new_mb, ""),
            (label, "  of which joined strings and arrays (MB)", float("nan"), float("nan"), held_mb(new), held_mb(new), "")]
    # Both gazetteers stay alive for the queries: the old one's million objects would make the
    # collector's full passes land in whatever is timed next; a server holds only the new one.
    gc.freeze()
    changed = write_a_few(snapshot)
    start = time.perf_counter()
    following = snapshot.with_changes(snapshot.version + 1, changed)
    write_ms = (time.perf_counter() - start) * 1000
    carried, carry_ms, _ = built(lambda: gazetteer_for(following))
    same = carried.search("新站", 20) == build_gazetteer(following).search("新站", 20)
    rows.append((label, f"next version, 7 written, new streets (+{write_ms:.0f} ms with_changes)", old_ms, old_ms, carry_ms, carry_ms,
                 "yes" if same else "NO"))
    renamed = []
    for k in range(5):
        f = following.features[(3 + k * 997) % len(following)]
        f["properties"]["name"] += "（改）"
        renamed.append(f)
    third = following.with_changes(following.version + 1, renamed)
    carried, renamed_ms, _ = built(lambda: gazetteer_for(third))
    same = carried.search("改", 20) == build_gazetteer(third).search("改", 20)
    rows.append((label, "next version, 5 renamed", old_ms, old_ms, renamed_ms, renamed_ms, "yes" if same else "NO"))
    for q in QUERIES:
        old_median, old_worst = timed(lambda q=q: old.search(q), OLD_REPEAT)
        median, worst = timed(lambda q=q: new.search(q), REPEAT)
        same = all(old.search(q, limit) == new.search(q, limit) for limit in (1, 10, 20))
        rows.append((label, f"query {q}", old_median, old_worst, median, worst, "yes" if same else "NO"))
    gc.unfreeze()
    return rows


_PINYIN_PROBE = """
import gc, json, sys, time, ctypes
sys.path.insert(0, {root!r})
def rss():
    gc.collect(); ctypes.CDLL("libc.so.6").malloc_trim(0)
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
from geo.queries.pinyin import PinyinTable
from geo.queries.search import _pinyin_of
names = json.loads(sys.stdin.read())
before = rss(); start = time.perf_counter()
if {new!r}:
    PinyinTable.load()
    load_ms = (time.perf_counter() - start) * 1000; start = time.perf_counter()
    read = [_pinyin_of(n) for n in names]
else:
    from pypinyin import lazy_pinyin
    load_ms = (time.perf_counter() - start) * 1000; start = time.perf_counter()
    read = [lazy_pinyin(n, errors="ignore") for n in names]
print(json.dumps([load_ms, (time.perf_counter() - start) * 1000, rss() - before]))
"""


def pinyin_rows(names: list[str]) -> list[tuple]:
    """pypinyin itself against its compact copy (geo.queries.pinyin), each in a fresh process: loading,
    reading ``names`` one at a time (what a write costs), and the memory the process keeps for it."""
    import subprocess

    got = {}
    for new in (False, True):
        code = _PINYIN_PROBE.format(root=str(Path(__file__).resolve().parent.parent), new=new)
        out = subprocess.run([sys.executable, "-c", code], input=json.dumps(names), capture_output=True, text=True, check=True)
        got[new] = json.loads(out.stdout)
    label = f"pinyin ({len(names):,} names)"
    return [(label, "load the dictionaries", got[False][0], got[False][0], got[True][0], got[True][0], ""),
            (label, "read every name, one at a time", got[False][1], got[False][1], got[True][1], got[True][1], ""),
            (label, "memory kept (MB, resident)", got[False][2], got[False][2], got[True][2], got[True][2], "")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big", type=Path, help="a big registry (e.g. 200,000 stations) to time as well")
    args = parser.parse_args()
    districts = Districts.load()
    rows = bench(DATA_DIR / "stations.geojson", districts)
    rows += pinyin_rows([f["properties"]["name"] for f in json.loads((DATA_DIR / "stations.geojson").read_text())["features"]])
    if args.big:
        rows += bench(args.big, districts)
    print(f"{'registry':<34} {'what (ms unless said)':<58} {'old median':>10} {'old worst':>10} {'new median':>10} "
          f"{'new worst':>10} {'same':>5}")
    for label, what, old_median, old_worst, median, worst, same in rows:
        print(f"{label:<34} {what:<58} {old_median:>10.2f} {old_worst:>10.2f} {median:>10.2f} {worst:>10.2f} {same:>5}")
    queries = [r for r in rows if r[1].startswith("query")]
    print(f"slowest new query: {max(r[5] for r in queries):.2f} ms; "
          f"{'every query found the same places' if all(r[6] == 'yes' for r in rows if r[6]) else 'SOME RESULTS DIFFER'}")


if __name__ == "__main__":
    main()
