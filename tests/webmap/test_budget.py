"""The per-address request budget (webmap.core.budget): a flood from one address is refused, others are not."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import make_test_app
from webmap.core import budget

pytest_plugins = ("tests.portal_fixtures",)

NEAREST = "/api/nearest?lon=106.5516&lat=29.5630"


@pytest.fixture
def slept(monkeypatch):
    """The refusal's hold-back, recorded instead of slept."""
    calls, real, here = [], budget.time.sleep, threading.get_ident()

    def sleep(seconds):  # only this test's thread: other apps' watcher threads keep their real sleep
        if threading.get_ident() == here:
            calls.append(seconds)
        else:
            real(seconds)

    monkeypatch.setattr(budget.time, "sleep", sleep)
    return calls


def small_budget_app(registry_path, tmp_path, **overrides):
    return make_test_app(registry_path, tmp_path, REQUEST_BUDGET_PER_ADDRESS="5 per minute", REQUEST_BUDGET_DELAY_S=1.0,
                         **overrides)


def from_address(client, address: str, path: str = NEAREST, **kwargs):
    return client.get(path, environ_base={"REMOTE_ADDR": address}, **kwargs)


def test_flood_from_one_address_gets_429_with_retry_after_while_others_are_served(registry_path, tmp_path, slept):
    client = small_budget_app(registry_path, tmp_path).test_client()
    answers = [from_address(client, "10.0.0.1") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    refused = from_address(client, "10.0.0.1")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    body = refused.get_json()
    assert body["ok"] is False and body["status"] == 429
    assert "too many requests from your address" in body["errors"][0]["message"]
    assert slept == [1.0]  # held back before answering, so a client ignoring Retry-After cannot spin
    # Another address (another rider) is untouched, on the fast path and through Flask alike.
    assert from_address(client, "10.0.0.2").status_code == 200
    assert from_address(client, "10.0.0.2", "/api/stations?bbox=106.5,29.5,106.6,29.6").status_code == 200
    # Every path counts: the flooding address is refused on pages too, with a page in its language.
    page = from_address(client, "10.0.0.1", "/", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert "来自您地址的请求过多" in page.get_data(as_text=True)
    assert page.headers["Retry-After"]


def test_api_refusal_speaks_the_callers_language(registry_path, tmp_path, slept):
    client = small_budget_app(registry_path, tmp_path).test_client()
    for _ in range(5):
        from_address(client, "10.0.0.3")
    refused = from_address(client, "10.0.0.3", NEAREST + "&lang=zh")
    assert refused.status_code == 429
    assert refused.get_json()["errors"][0]["message"] == "来自您地址的请求过多，请稍候再试"


def test_behind_a_proxy_the_forwarded_client_address_is_counted(registry_path, tmp_path, slept):
    client = small_budget_app(registry_path, tmp_path, PROXY_COUNT=1).test_client()

    def via_proxy(client_address):
        return client.get(NEAREST, environ_base={"REMOTE_ADDR": "127.0.0.1"},
                          headers={"X-Forwarded-For": client_address})

    assert [via_proxy("203.0.113.7").status_code for _ in range(6)] == [200] * 5 + [429]
    # Other clients behind the same proxy keep their own budgets.
    assert [via_proxy(f"203.0.113.{i}").status_code for i in range(10, 20)] == [200] * 10


def test_default_budget_is_far_above_a_phone_and_can_be_turned_off(registry_path, tmp_path, slept):
    from limits import parse

    from webmap.core.config import DEFAULTS

    default = parse(DEFAULTS["REQUEST_BUDGET_PER_ADDRESS"])
    per_minute = default.amount * 60 / default.get_expiry()
    assert per_minute >= 600  # a phone: a finder refresh every few seconds, a few dozen requests per page
    client = make_test_app(registry_path, tmp_path, REQUEST_BUDGET_PER_ADDRESS=None).test_client()
    assert not isinstance(client.application.wsgi_app, budget.AddressBudget)


def test_address_over_its_bad_token_allowance_is_refused_at_the_door(registry_path, tmp_path, accounts, tokens, slept):
    from webmap.signin.auth import BAD_CREDENTIAL_THROTTLE

    app = make_test_app(registry_path, tmp_path, ACCOUNTS=accounts, BAD_BEARER_LIMIT_PER_IP="3 per minute",
                        REQUEST_BUDGET_DELAY_S=1.0)
    client = app.test_client()
    made_up = {"Authorization": "Bearer smt_0123456789ab_" + "A" * 43}
    statuses = [from_address(client, "10.0.0.5", "/api/audit", headers=made_up).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError("the shared counters were consulted")

    app.extensions[BAD_CREDENTIAL_THROTTLE] = (Untouchable(), None)
    # From now on everything from that address, public paths included, is refused before Flask.
    for path in ("/api/audit", NEAREST, "/"):
        refused = from_address(client, "10.0.0.5", path, headers=made_up)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.mimetype == "text/html"
    api = from_address(client, "10.0.0.5", NEAREST, headers={"Accept-Language": "en"})
    assert api.get_json()["errors"][0]["message"] == "Too many failed sign-ins; please wait a minute and try again."
    assert from_address(client, "10.0.0.6", NEAREST).status_code == 200


def test_anonymous_planning_refusals_are_remembered_per_process(registry_path, tmp_path, slept, monkeypatch):
    app = make_test_app(registry_path, tmp_path, PLAN_LIMIT_ANON="1 per minute", REQUEST_BUDGET_DELAY_S=1.0)
    client = app.test_client()
    path = "/api/plan?new=1&radius_m=1000&district=500103"
    assert from_address(client, "10.0.0.7", path).status_code == 200
    assert from_address(client, "10.0.0.7", path.replace("1000", "1500")).status_code == 429
    # Refused once, the address is not counted in the shared store again until the window passes.
    storage = app.extensions["stationmap_limiter"].storage
    monkeypatch.setattr(storage, "incr", lambda *a, **k: (_ for _ in ()).throw(AssertionError("store asked")))
    again = from_address(client, "10.0.0.7", path.replace("1000", "2000"))
    assert again.status_code == 429 and int(again.headers["Retry-After"]) >= 1
    assert slept == [1.0, 1.0]  # every refusal held back a second: a client ignoring Retry-After cannot spin
