"""Shared fixtures: a small hand-made registry in tmp_path, the real district map, the app and its client.

Tests never touch the committed data/stations.geojson (except the tests of the sample
registry itself); each gets its own copy of a dozen stations made here.
"""

from __future__ import annotations

import gc
import os

import pytest
from flask import Flask
from hypothesis import settings
from jinja2 import BytecodeCache
from werkzeug.routing import Rule

from geo.districts import Districts
from geo.paths import DATA_DIR
from geo.registry import GeoJSONFileStore, dump_feature_collection
from tests.ramdisk import ram_temp_root

# No wall-clock limit on an example: a loaded CI machine must not fail a property that holds
# (hypothesis's default 200 ms deadline is a timing assertion, which the tests never make).
settings.register_profile("stationmap", deadline=None)
settings.load_profile("stationmap")

DISTRICTS_PATH = DATA_DIR / "districts.geojson"
DISTRICT_NAMES = {"500103": "渝中区", "500105": "江北区", "500106": "沙坪坝区", "500112": "渝北区", "500229": "城口县"}


def make_station(station_id, lon, lat, *, kind="outdoor_station", name=None, hours="24/7",
                 amenities=("rest", "drinking_water", "phone_charging", "food_heating"), honours=(), status="active"):
    """A valid station Feature; the district comes from the id's prefix."""
    adcode = station_id[:6]
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {
            "id": station_id, "kind": kind, "name": name or f"测试驿站{station_id[-4:]}",
            "address": f"重庆市{DISTRICT_NAMES[adcode]}测试路{station_id[-2:]}号", "district_adcode": adcode,
            "district": DISTRICT_NAMES[adcode], "operator": f"重庆市{DISTRICT_NAMES[adcode]}总工会", "phone": "023-63000000",
            "opening_hours": hours, "amenities": list(amenities), "honours": list(honours), "status": status,
            "created_at": "2024-01-01T09:00:00+08:00", "updated_at": "2024-01-01T09:00:00+08:00", "source": "sample",
        },
    }


# A dozen stations: dense around 解放碑 (渝中), a few in 江北/沙坪坝/渝北, one in remote 城口.
SMALL_REGISTRY = [
    make_station("500103-OS-0001", 106.5770, 29.5590, honours=("national_most_beautiful",)),
    make_station("500103-OS-0002", 106.5700, 29.5560, hours="Mo-Fr 08:00-18:00", amenities=("rest", "toilet", "drinking_water")),
    make_station("500103-OS-0003", 106.5516, 29.5630, hours="Mo-Su 07:00-22:00", amenities=("rest", "toilet", "wifi")),
    make_station("500103-OS-0004", 106.5300, 29.5450, status="retired"),
    make_station("500103-BS-0001", 106.5650, 29.5580, kind="bookshelf", hours="Mo-Sa 09:00-21:00", amenities=("reading", "rest", "wifi")),
    make_station("500105-OS-0001", 106.5740, 29.5860),
    make_station("500105-CC-0001", 106.5600, 29.5900, kind="childcare", hours="Mo-Fr 08:30-17:30", amenities=("childcare", "rest", "reading")),
    make_station("500106-OS-0001", 106.4560, 29.5410, hours="Mo-Fr 08:00-20:00; Sa,Su 09:00-18:00"),
    make_station("500106-OS-0002", 106.4620, 29.5600, amenities=("rest", "drinking_water", "battery_swap")),
    make_station("500112-OS-0001", 106.6310, 29.7180),
    make_station("500112-BS-0001", 106.6400, 29.7200, kind="bookshelf", hours="Mo-Fr 09:00-17:00", amenities=("reading",)),
    make_station("500229-OS-0001", 108.6650, 31.9470),
]


def pytest_configure(config):
    # Temporary folders on tmpfs (tests/ramdisk.py), unless --basetemp or PYTEST_DEBUG_TEMPROOT says
    # where. With xdist the controller picks the folder and hands each worker its --basetemp in it.
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    root = ram_temp_root()
    if root is not None:
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(root)


def pytest_collection_finish(session):
    # What is alive once the tests are collected (modules, pytest's items, Hypothesis) lives until the
    # end: set it aside, so that each full garbage collection (Python's own, and the code under test's
    # gc.collect() after each registry load) walks only what the tests made, not 400,000 more objects.
    gc.collect()
    gc.freeze()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # The same between test files, once the file's fixtures are gone and pytest has let go of the last
    # test's arguments (it does after teardown, so this wraps the whole protocol): what is still alive
    # then (modules imported on first use, session fixtures, caches) stays. Only the collector's walks
    # change: anything freed by reference counting is still freed; a test's own objects are collected.
    result = yield
    if nextitem is None or getattr(nextitem, "module", None) is not getattr(item, "module", None):
        gc.collect()
        gc.freeze()
    return result


class CompiledTemplates(BytecodeCache):
    """Templates compiled once per test process, not once per app: most tests build their own app,
    and each app's Jinja environment would otherwise parse and compile every page it renders
    again. Kept by template, source checksum and the environment's compile options."""

    def __init__(self):
        self.code: dict[str, tuple[str, object]] = {}

    def get_bucket(self, environment, name, filename, source):
        bucket = super().get_bucket(environment, name, filename, source)
        options = (sorted(environment.extensions), environment.autoescape, environment.optimized,
                   environment.block_start_string, environment.variable_start_string, environment.comment_start_string,
                   environment.line_statement_prefix, environment.trim_blocks, environment.lstrip_blocks,
                   environment.newline_sequence, environment.keep_trailing_newline)
        bucket.key = f"{bucket.key}:{options!r}"
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket):
        checksum, code = self.code.get(bucket.key, (None, None))
        if checksum == bucket.checksum:
            bucket.code = code

    def dump_bytecode(self, bucket):
        self.code[bucket.key] = (bucket.checksum, bucket.code)


class CompiledOnceRule(Rule):
    """A URL rule whose builder (the function ``url_for`` runs, which werkzeug writes and compiles for
    each rule of each new app) is compiled once per test process: about 60 % of ``create_app``.

    Keyed by everything werkzeug's ``_compile_builder`` reads: the rule, its parsed parts, its
    defaults' names and the URL forms of those it puts in the path, and ``append_unknown``."""

    builders: dict[tuple, object] = {}

    def _compile_builder(self, append_unknown=True):
        defaults = self.defaults or {}
        try:
            key = (self.rule, append_unknown, tuple(self._trace), tuple(defaults),
                   tuple((part, self._converters[part].to_url(defaults[part]))
                         for dynamic, part in self._trace if dynamic and part in defaults))
        except (AttributeError, KeyError, TypeError):  # a werkzeug whose internals differ: compile as usual
            return super()._compile_builder(append_unknown)
        builder = self.builders.get(key)
        if builder is None:
            builder = self.builders[key] = super()._compile_builder(append_unknown)
        return builder


@pytest.fixture(scope="session", autouse=True)
def compiled_once():
    """Every app the tests build shares compiled templates and URL builders (see the two classes above)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "jinja_options", {**Flask.jinja_options, "bytecode_cache": CompiledTemplates()})
        patch.setattr(Flask, "url_rule_class", CompiledOnceRule)
        yield


@pytest.fixture(scope="session")
def districts() -> Districts:
    return Districts.load(DISTRICTS_PATH)


@pytest.fixture
def registry_path(tmp_path):
    path = tmp_path / "stations.geojson"
    path.write_bytes(dump_feature_collection(SMALL_REGISTRY))
    return path


@pytest.fixture
def store(registry_path, districts) -> GeoJSONFileStore:
    return GeoJSONFileStore(registry_path, districts)


# A test client (or a test's browser) is one address making hundreds of requests in seconds, the
# traffic the per-address request budget refuses; tests/webmap/test_budget.py sets a small one.
ONE_ADDRESS_FOR_EVERYONE = {"REQUEST_BUDGET_PER_ADDRESS": "100000 per 10 seconds"}


def make_test_app(registry_path, tmp_path, **overrides):
    """The app over ``registry_path``, with every file it writes (accounts, secret key) in ``tmp_path``."""
    from webmap import create_app

    return create_app({
        "TESTING": True,
        "REGISTRY_PATH": str(registry_path),
        "DISTRICTS_PATH": str(DISTRICTS_PATH),
        "SECRET_KEY": "test-secret",
        "TILE_PROVIDER": "none",
        "ACCOUNTS_PATH": str(tmp_path / "accounts.json"),
        "SECRET_KEY_FILE": str(tmp_path / "secret_key"),
        # Refusals are answered at once here (tests/webmap/test_budget.py checks the hold-back).
        "REQUEST_BUDGET_DELAY_S": 0.0,
        **ONE_ADDRESS_FOR_EVERYONE,
        **overrides,
    })


@pytest.fixture
def app(registry_path, tmp_path):
    return make_test_app(registry_path, tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


# A real PostgreSQL/PostGIS for the PostGIS store's tests (session cluster, a database per test).
from tests.pg import pg_empty_url, pg_server, pg_url  # noqa: E402, F401
