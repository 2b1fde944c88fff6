"""The WSGI fast path for /api/nearest sends exactly what the Flask view sends, and only handles what it should."""

from __future__ import annotations

import gzip
import json

import pytest

from geo.registry import dump_feature_collection
from tests.conftest import SMALL_REGISTRY, make_test_app
from webmap.public.fastpath import NearestFastPath

AT = "at=2026-07-01T14:30"
QUERIES = [
    f"lon=106.5516&lat=29.5630&{AT}",
    f"lon=106.5516&lat=29.5630&k=1&{AT}",
    f"lon=106.5516&lat=29.5630&k=100&{AT}",
    f"lon=106.5516&lat=29.5630&k=3&kind=bookshelf&{AT}",
    f"lon=106.5516&lat=29.5630&amenity=toilet&amenity=drinking_water&{AT}",
    f"lon=106.5516&lat=29.5630&open_now=1&{AT}",
    f"lon=106.5560&lat=29.5600&crs=gcj02&{AT}",
    f"lon=106.5626&lat=29.5687&crs=bd09&lang=en&{AT}",
    f"lon=104.0&lat=30.6&k=2&{AT}",  # Chengdu: outside Chongqing, still answered
    f"lon=106.5516&lat=29.5630&k=5&lang=en&{AT}",
    # Percent-escapes, '+' for a space and blank values are decoded as werkzeug decodes them.
    f"lon=106%2E5516&lat=+29.5630&amenity=toilet%2Cwifi&kind=&{AT}",
]
BAD_QUERIES = ["", "lon=abc&lat=29.5", "lon=106.5&lat=NaN", "lon=106.5&lat=29.5&k=0", "lon=106.5&lat=29.5&k=101",
               "lon=106.5&lat=29.5&kind=castle", "lon=106.5&lat=29.5&bogus=1", "lon=106.5&lat=29.5&lon=106.6",
               "lon=106.5&lat=95", "lon=106.5&lat=29.5&crs=utm",
               "lon=106.5&lat=29.5&kind=%FF", "lon=106.5&lat=29.5&kind=%E4%B8", "lon=106.5&lat=29.5&lang=%E4%B8%AD"]


def fast_and_plain(registry_path, tmp_path):
    """The same registry served with and without the fast path."""
    fast = make_test_app(registry_path, tmp_path)
    plain = make_test_app(registry_path, tmp_path, NEAREST_FAST_PATH=False)
    assert isinstance(fast_path_of(fast), NearestFastPath) and not isinstance(fast_path_of(plain), NearestFastPath)
    return fast, plain


@pytest.fixture
def apps(registry_path, tmp_path):
    return fast_and_plain(registry_path, tmp_path)


@pytest.fixture(scope="module")
def reading_apps(tmp_path_factory):
    """One pair for the many tests that only ask (their registry is never written)."""
    tmp = tmp_path_factory.mktemp("fastpath")
    registry_path = tmp / "stations.geojson"
    registry_path.write_bytes(dump_feature_collection(SMALL_REGISTRY))
    return fast_and_plain(registry_path, tmp)


def fast_path_of(app):
    """The middleware under the request budget (``webmap.core.budget``), which wraps everything."""
    layer = app.wsgi_app
    while not isinstance(layer, NearestFastPath) and hasattr(layer, "wsgi_app"):
        layer = layer.wsgi_app
    return layer


def served_by_fast_path(app, monkeypatch) -> list:
    """Record which requests reach Flask behind the fast path."""
    reached = []
    fast_path = fast_path_of(app)
    inner = fast_path.flask_wsgi_app

    def flask_app(environ, start_response):
        reached.append(environ.get("QUERY_STRING"))
        return inner(environ, start_response)

    monkeypatch.setattr(fast_path, "flask_wsgi_app", flask_app)
    return reached


@pytest.mark.parametrize("encoding", ["gzip", "", "gzip;q=0, deflate", "*"])
@pytest.mark.parametrize("query", QUERIES)
def test_fast_path_answers_byte_for_byte_like_flask(reading_apps, monkeypatch, query, encoding):
    fast, plain = reading_apps
    reached = served_by_fast_path(fast, monkeypatch)
    headers = {"Accept-Encoding": encoding}
    ours = fast.test_client().get(f"/api/nearest?{query}", headers=headers)
    theirs = plain.test_client().get(f"/api/nearest?{query}", headers=headers)
    assert reached == []  # answered without Flask
    assert ours.status_code == theirs.status_code == 200
    assert sorted(ours.headers.items()) == sorted(theirs.headers.items())
    assert ours.data == theirs.data


def test_fast_path_body_is_the_documented_answer(apps):
    fast, _ = apps
    response = fast.test_client().get(f"/api/nearest?lon=106.5516&lat=29.5630&k=3&{AT}",
                                      headers={"Accept-Encoding": "gzip"})
    body = json.loads(gzip.decompress(response.data) if response.headers.get("Content-Encoding") else response.data)
    distances = [f["properties"]["distance_m"] for f in body["features"]]
    assert body["count"] == len(distances) == 3 and distances == sorted(distances)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Type"] == "application/geo+json"


def test_large_answers_are_gzipped_small_ones_fit_the_first_round_trip(tmp_path, monkeypatch):
    from tests.conftest import make_station

    # 60 more stations in 渝中, so k=60 gives a body past TCP's initial window (~14.6 KB).
    extra = [make_station(f"500103-OS-{100 + i:04d}", 106.560 + (i % 10) * 0.002, 29.552 + (i // 10) * 0.001)
             for i in range(60)]
    path = tmp_path / "many.geojson"
    path.write_bytes(dump_feature_collection(SMALL_REGISTRY + extra))
    fast = make_test_app(path, tmp_path)
    plain = make_test_app(path, tmp_path, NEAREST_FAST_PATH=False)
    reached = served_by_fast_path(fast, monkeypatch)
    for k, compressed in ((5, False), (60, True)):
        query = f"/api/nearest?lon=106.5700&lat=29.5560&k={k}&{AT}"
        ours = fast.test_client().get(query, headers={"Accept-Encoding": "gzip"})
        theirs = plain.test_client().get(query, headers={"Accept-Encoding": "gzip"})
        assert (ours.headers.get("Content-Encoding") == "gzip") is compressed
        assert sorted(ours.headers.items()) == sorted(theirs.headers.items()) and ours.data == theirs.data
        body = gzip.decompress(ours.data) if compressed else ours.data
        assert json.loads(body)["count"] == k
    assert reached == []


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_queries_get_flasks_error_envelope(reading_apps, monkeypatch, query):
    fast, plain = reading_apps
    reached = served_by_fast_path(fast, monkeypatch)
    ours = fast.test_client().get(f"/api/nearest?{query}")
    theirs = plain.test_client().get(f"/api/nearest?{query}")
    assert reached == [query]
    assert ours.status_code == theirs.status_code == 400
    assert ours.get_json() == theirs.get_json() and ours.get_json()["ok"] is False


@pytest.mark.parametrize(("method", "path"), [("HEAD", "/api/nearest?lon=106.5&lat=29.5"),
                                              ("POST", "/api/nearest?lon=106.5&lat=29.5"),
                                              ("GET", "/api/nearest/?lon=106.5&lat=29.5"),
                                              ("GET", "/api/stations?kind=bookshelf")])
def test_other_methods_and_paths_go_to_flask(reading_apps, monkeypatch, method, path):
    fast, plain = reading_apps
    reached = served_by_fast_path(fast, monkeypatch)
    ours = fast.test_client().open(path, method=method)
    theirs = plain.test_client().open(path, method=method)
    assert len(reached) == 1
    assert ours.status_code == theirs.status_code


def test_a_domain_failure_falls_back_to_flask(apps, monkeypatch):
    fast, _ = apps
    reached = served_by_fast_path(fast, monkeypatch)

    def broken(*args, **kwargs):
        raise RuntimeError("index gone")

    monkeypatch.setattr("webmap.public.fastpath.nearest_answer", broken)
    monkeypatch.setattr("webmap.public.api.nearest_answer", broken)
    response = fast.test_client().get(f"/api/nearest?lon=106.5&lat=29.5&{AT}")
    assert reached and response.status_code == 500
    assert response.get_json()["ok"] is False


def test_fast_path_sees_a_new_registry_version(apps, store, monkeypatch):
    from geo.access.permissions import CLI_ACTOR
    from tests.conftest import make_station

    fast, _ = apps
    reached = served_by_fast_path(fast, monkeypatch)
    new_id, = store.add([make_station("500103-OS-9999", 106.5700, 29.5580, name="新驿站")], CLI_ACTOR)
    response = fast.test_client().get(f"/api/nearest?lon=106.5700&lat=29.5580&k=1&{AT}")
    assert reached == []
    assert response.get_json()["features"][0]["properties"]["id"] == new_id
