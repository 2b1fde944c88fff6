"""Credentials under abuse: made-up tokens cost no argon2 and are throttled, sign-out ends the session on the server, Secure behind a proxy."""

from __future__ import annotations

from argon2 import PasswordHasher

from tests.conftest import make_test_app
from tests.portal_helpers import PASSWORD, bearer, csrf_token, login

pytest_plugins = ("tests.portal_fixtures",)

STATION = "500103-OS-0002"
MADE_UP = "smt_0123456789ab_" + "A" * 43


def test_made_up_tokens_never_reach_argon2_and_are_throttled(registry_path, tmp_path, accounts, tokens, monkeypatch):
    app = make_test_app(registry_path, tmp_path, ACCOUNTS=accounts, BAD_BEARER_LIMIT_PER_IP="5 per minute")
    calls = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):  # noqa: A002 - argon2's parameter name
            calls.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "hasher", CountingHasher(time_cost=1, memory_cost=1024, parallelism=1))
    client = app.test_client()
    real_id = tokens["yuzhong"].split("_")[1]
    for token in [MADE_UP, f"smt_{real_id}_" + "B" * 43, MADE_UP, tokens.revoked, MADE_UP]:
        response = client.get("/api/audit", headers=bearer(token))
        assert response.status_code == 401
    assert calls == []  # not one argon2 verification for any of them
    # The sixth bad token in the window: refused before it is looked at, with the envelope and Retry-After.
    response = client.get("/api/audit", headers=bearer(MADE_UP))
    assert response.status_code == 429
    body = response.get_json()
    assert body["ok"] is False and body["status"] == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    # Even a good token from that address waits (the address, not the token, is throttled) ...
    assert client.get("/api/audit", headers=bearer(tokens["admin"])).status_code == 429
    # ... while another address is unaffected.
    other = client.get("/api/audit", headers=bearer(tokens["admin"]), environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200
    assert calls == []


def test_good_tokens_do_not_count_towards_the_throttle(registry_path, tmp_path, accounts, tokens):
    app = make_test_app(registry_path, tmp_path, ACCOUNTS=accounts, BAD_BEARER_LIMIT_PER_IP="2 per minute")
    client = app.test_client()
    for _ in range(5):
        assert client.get("/api/audit", headers=bearer(tokens["admin"])).status_code == 200


def test_old_session_cookie_is_refused_after_sign_out(anon):
    login(anon, "yuzhong")
    stolen = anon.get_cookie("session").value
    token = csrf_token(anon, "/portal/stations")
    assert anon.post("/logout", data={"csrf_token": token}).status_code == 302
    thief = anon.application.test_client()
    thief.set_cookie("session", stolen)
    token = csrf_token(thief, "/login")
    response = thief.patch(f"/api/stations/{STATION}", json={"phone": "023-44444444"}, headers={"X-CSRFToken": token})
    assert response.status_code == 401
    assert thief.get("/portal/stations").status_code == 302


def test_password_reset_ends_existing_sessions(signed_in, accounts):
    client = signed_in("yuzhong")
    assert client.get("/portal/stations").status_code == 200
    accounts.reset_password("yuzhong")
    assert client.get("/portal/stations").status_code == 302


def test_cookie_is_secure_when_the_proxy_says_https(registry_path, tmp_path, accounts, tokens):
    app = make_test_app(registry_path, tmp_path, ACCOUNTS=accounts, PROXY_COUNT=1)
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/login", data={"username": "yuzhong", "password": PASSWORD, "csrf_token": token},
                           headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7",
                                    "Referer": "https://localhost/login"})
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_forwarded_headers_are_ignored_without_a_configured_proxy(anon):
    response = login(anon, "yuzhong")
    assert "Secure" not in response.headers["Set-Cookie"]
    response = anon.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in response.headers.get("Set-Cookie", "")
