"""Planning under abuse: near-identical radii share one computation, visitors are rate-limited, a full gate is 503."""

from __future__ import annotations

from geo.registry.filestore import dump_feature_collection
from tests.conftest import SMALL_REGISTRY, make_test_app

YUZHONG = "500103"


def planner_app(tmp_path, **config):
    registry = tmp_path / "stations.geojson"
    registry.write_bytes(dump_feature_collection(SMALL_REGISTRY))
    return make_test_app(registry, tmp_path, PLAN_CANDIDATES_DIR=str(tmp_path / "candidates"), **config)


def test_nearly_equal_radii_share_one_plan(tmp_path):
    app = planner_app(tmp_path)
    client = app.test_client()
    for radius in (1190, 1205, 1210, 1224.9):
        assert client.get(f"/api/plan?new=2&district={YUZHONG}&radius_m={radius}").status_code == 200
    plans = app.extensions["stationmap.planner"].plans
    assert [key.radius_m for _, key in plans._items] == [1200.0]


def test_visitors_planning_is_rate_limited_per_address(tmp_path):
    app = planner_app(tmp_path, PLAN_LIMIT_ANON="3 per minute")
    client = app.test_client()
    codes = [client.get(f"/api/population-coverage?radius_m={500 + 100 * i}").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get("/api/population-coverage?radius_m=1500")
    body = response.get_json()
    assert body["ok"] is False and body["status"] == 429 and int(response.headers["Retry-After"]) >= 1
    other = client.get("/api/population-coverage?radius_m=1600", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 200


def test_full_planning_gate_is_503_not_a_queue(tmp_path):
    app = planner_app(tmp_path)
    gate = app.extensions["stationmap.gates"]["plan"]
    gate.queue = 0
    assert gate._free.acquire(blocking=False)
    try:
        response = app.test_client().get(f"/api/plan?new=2&district={YUZHONG}&radius_m=900")
        assert response.status_code == 503 and response.get_json()["status"] == 503
        assert response.headers["Retry-After"]
    finally:
        gate._free.release()
