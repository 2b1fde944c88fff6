"""What only the PostGIS backend has: deltas by version, exact round trips of any text and coordinate,
and the database's own view of the stations (PostGIS geometry, typed columns)."""

from __future__ import annotations

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.access.permissions import CLI_ACTOR
from geo.errors import ValidationError
from geo.registry import open_store
from geo.registry.postgis import import_registry
from geo.registry.snapshot import MISSING
from tests.conftest import SMALL_REGISTRY, make_station
from tests.pg import database_url

# Any text a clerk may type: every printable character (no controls, which validation refuses).
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40).filter(str.strip)


def test_changes_since_is_a_delta_of_the_rows_written_after_a_version(pg_url, districts):
    import_registry(pg_url, SMALL_REGISTRY, 0, [])
    store = open_store(pg_url, districts)
    store.update("500103-OS-0002", {"name": "一"}, CLI_ACTOR)
    [new_id] = store.add([make_station("500105-OS-0009", 106.5745, 29.5865)], CLI_ACTOR)
    version, changed = store.backend.changes_since(1)
    assert version == 2 and [f["properties"]["id"] for f in changed] == [new_id]
    version, changed = store.backend.changes_since(0)
    assert [f["properties"]["id"] for f in changed] == ["500103-OS-0002", new_id]
    assert store.backend.changes_since(2) == (2, [])
    store.close()


def test_the_database_holds_postgis_points_and_typed_columns(pg_url, districts):
    import_registry(pg_url, SMALL_REGISTRY, 0, [])
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT id, ST_SRID(geom), ST_X(geom), kind, district_adcode, status FROM stations"
                            " WHERE ST_DWithin(geom::geography, ST_MakePoint(106.5770, 29.5590)::geography, 300)").fetchall()
    assert rows == [("500103-OS-0001", 4326, 106.577, "outdoor_station", "500103", "active")]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=TEXT, address=TEXT, lon=st.floats(106.5400, 106.5900), lat=st.floats(29.5450, 29.5600))
def test_any_text_and_coordinate_round_trip_exactly(pg_url, districts, name, address, lon, lat):
    store = open_store(pg_url, districts)
    feature = make_station("500103-OS-0001", lon, lat, name=name)
    feature["properties"]["address"] = address
    try:
        [new_id] = store.add([feature], CLI_ACTOR)
    except ValidationError as exc:  # a point beyond 渝中区's boundary, or text a spreadsheet would run as a
        # formula (one rule for every write), is refused: not this test's concern
        assert all("lies in" in p.message or "outside" in p.message or "formula" in p.message for p in exc.problems), exc.problems
        store.close()
        return
    written = store.get(new_id)
    fresh = open_store(pg_url, districts)
    assert fresh.get(new_id) == written and fresh.get(new_id)["geometry"]["coordinates"] == [lon, lat]
    assert list(fresh.get(new_id)["properties"]) == list(written["properties"])  # the schema's order, not jsonb's
    store.close()
    fresh.close()


def test_a_load_tells_null_from_absent_and_shares_each_distinct_value(pg_url, districts):
    import copy

    features = copy.deepcopy(SMALL_REGISTRY)
    features[0]["properties"]["operator"] = None          # shared column, JSON null
    features[1]["properties"]["phone"] = None             # own column, JSON null
    del features[2]["properties"]["phone"]                # absent
    features[3]["properties"]["listing"] = {"amap": {"status": "listed"}}
    features[4]["properties"]["verified_at"] = None
    features[5]["properties"]["amenities"] = list(features[6]["properties"]["amenities"])  # equal, not the same list
    import_registry(pg_url, features, 1, [])
    store = open_store(pg_url, districts)
    snapshot = store.snapshot()
    assert [snapshot.features[i] for i in range(len(features))] == features
    assert snapshot.table.value("operator", 0) is None and "phone" not in snapshot.features[2]["properties"]
    assert snapshot.table.value("amenities", 5) is snapshot.table.value("amenities", 6)  # one object for both
    store.close()


def test_a_load_reads_texts_holding_its_separator_or_null_mark_exactly(pg_url, districts):
    """The load joins each column's texts with a control character and marks NULL with another; a row
    written around validation that holds either is still read exactly (row by row)."""
    import copy

    import_registry(pg_url, SMALL_REGISTRY, 1, [])
    store = open_store(pg_url, districts)
    clean = store.snapshot().table.column("name").tolist()
    store.close()
    for odd in ("a\x1fb", "\x01", "\x1f"):
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE stations SET props = jsonb_set(props, '{name}', to_jsonb(%s::text)) WHERE id = %s",
                         (odd, SMALL_REGISTRY[1]["properties"]["id"]))
            conn.execute("UPDATE stations SET props = props - 'phone' WHERE id = %s", (SMALL_REGISTRY[2]["properties"]["id"],))
        store = open_store(pg_url, districts)
        table = store.snapshot().table
        expected = copy.copy(clean)
        expected[1] = odd
        assert table.column("name").tolist() == expected
        assert table.value("phone", 2) is MISSING and table.value("phone", 3) == SMALL_REGISTRY[3]["properties"]["phone"]
        store.close()


def test_a_prefetched_load_is_the_store_s_first_and_only_once(pg_url, districts):
    """``stationmap serve`` sends the load first (``postgis_load.prefetch``); the store's first load takes
    what it read if no write came since (else it reads afresh), later loads read afresh, and a prefetch
    that fails is left to the store's own load to report."""
    from geo.registry import postgis_load

    import_registry(pg_url, SMALL_REGISTRY, 1, [])
    first_name = SMALL_REGISTRY[0]["properties"]["name"]

    def change_name(name: str, bump: bool) -> None:  # behind the program's back: only the version tells
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE stations SET props = jsonb_set(props, '{name}', to_jsonb(%s::text)) WHERE ord = 1", (name,))
            if bump:
                conn.execute("UPDATE registry_meta SET version = version + 1")

    postgis_load.prefetch(pg_url)
    change_name("未记版本", bump=False)
    store = open_store(pg_url, districts)
    assert store.snapshot().table.value("name", 0) == first_name  # what the prefetch read
    assert postgis_load.take_prefetched(pg_url) is None  # taken once
    assert store.backend.load_table()[1].value("name", 0) == "未记版本"  # later loads read afresh
    store.close()

    postgis_load.prefetch(pg_url)
    change_name("后来", bump=True)  # a write after the prefetch: the first load must not be older than it
    store = open_store(pg_url, districts)
    assert store.snapshot().version == 2 and store.snapshot().table.value("name", 0) == "后来"
    store.close()

    missing = database_url(pg_url, "no_such_database")
    postgis_load.prefetch(missing)  # no raise: the store's own load says why
    assert postgis_load.take_prefetched(missing) is None


def test_the_load_statement_module_imports_only_the_database_driver():
    """``postgis_load`` is what `stationmap serve` imports first: nothing heavy may come with it."""
    import subprocess
    import sys

    code = ("import sys; import geo.registry.postgis_load; "
            "print(sorted(m for m in ('pandas', 'geopandas', 'numpy', 'shapely', 'pyproj') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
