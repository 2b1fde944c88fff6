"""Sign-in: sessions and their invalidation, bearer tokens, CSRF, the login throttle, cookie flags and safe redirects."""

from __future__ import annotations

import time

import pytest

from tests.portal_helpers import PASSWORD, bearer, csrf_token, login

# The fixtures accounts, tokens, portal_app, anon and signed_in.
pytest_plugins = ("tests.portal_fixtures",)

STATION = "500103-OS-0002"


def test_login_page_and_successful_sign_in(anon):
    page = anon.get("/login")
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.get_data(as_text=True)
    response = login(anon, "yuzhong")
    assert response.status_code == 302
    assert response.headers["Location"] == "/portal/stations"
    assert anon.get("/portal/stations").status_code == 200


def test_user_name_is_case_insensitive(anon):
    assert login(anon, "YuZhong ").status_code == 302


@pytest.mark.parametrize("name, password", [
    ("yuzhong", "wrong password!!"),
    ("nobody", PASSWORD),
    ("shapingba", PASSWORD),  # disabled account
    ("", ""),
    ("yuzhong", "x" * 5000),
])
def test_failed_sign_in_is_401_with_one_generic_message(anon, name, password):
    response = login(anon, name, password)
    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "用户名或密码不正确" in text
    assert anon.get("/portal/stations").status_code == 302  # still signed out


def test_login_without_csrf_token_is_refused(anon):
    response = anon.post("/login", data={"username": "yuzhong", "password": PASSWORD})
    assert response.status_code == 400
    assert anon.get("/portal/stations").status_code == 302


def test_session_cookie_flags(anon):
    response = login(anon, "yuzhong")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http in tests


def test_secure_cookie_behind_https(registry_path, tmp_path, accounts, tokens, monkeypatch):
    from tests.conftest import DISTRICTS_PATH
    from webmap import create_app

    monkeypatch.setenv("STATIONMAP_HTTPS", "1")
    app = create_app({"TESTING": True, "REGISTRY_PATH": str(registry_path), "DISTRICTS_PATH": str(DISTRICTS_PATH),
                      "SECRET_KEY": "k", "TILE_PROVIDER": "none", "ACCOUNTS": accounts,
                      "SECRET_KEY_FILE": str(tmp_path / "k")})
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/login", data={"username": "yuzhong", "password": PASSWORD, "csrf_token": token},
                           base_url="https://localhost", headers={"Referer": "https://localhost/login"})
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("target, expected", [
    ("/portal/audit?district=500103", "/portal/audit?district=500103"),
    ("//evil.example/x", "/portal/stations"),
    ("https://evil.example/", "/portal/stations"),
    ("/\\evil.example", "/portal/stations"),
    ("javascript:alert(1)", "/portal/stations"),
    ("", "/portal/stations"),
])
def test_next_only_goes_to_this_site(anon, target, expected):
    response = login(anon, "admin", next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_pages_redirect_to_login_with_next(anon):
    response = anon.get("/portal/stations?status=active")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_logout_needs_post_and_csrf(signed_in):
    client = signed_in("yuzhong")
    assert client.get("/logout").status_code == 200  # a confirmation page only
    assert client.get("/portal/stations").status_code == 200
    assert client.post("/logout").status_code == 400  # no CSRF token: a foreign page cannot sign you out
    token = csrf_token(client, "/portal/stations")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/portal/stations").status_code == 302


@pytest.mark.parametrize("change", ["disable", "reset_password", "set_password"])
def test_account_changes_end_existing_sessions(signed_in, accounts, change):
    client = signed_in("yuzhong")
    assert client.get("/portal/stations").status_code == 200
    if change == "set_password":
        accounts.set_password("yuzhong", "another long password")
    else:
        getattr(accounts, change)("yuzhong")
    assert client.get("/portal/stations").status_code == 302
    assert client.get("/api/audit").status_code == 401


def test_reenabled_account_does_not_revive_old_sessions(signed_in, accounts):
    client = signed_in("yuzhong")
    accounts.disable("yuzhong")
    accounts.enable("yuzhong")
    assert client.get("/portal/stations").status_code == 302


def test_session_ends_after_its_lifetime(signed_in):
    client = signed_in("yuzhong")
    with client.session_transaction() as session:
        session["at"] = int(time.time()) - 9 * 3600
    assert client.get("/portal/stations").status_code == 302


def test_forged_session_cookie_is_ignored(anon, portal_app):
    from flask.sessions import SecureCookieSessionInterface

    other = portal_app.test_client()
    portal_app.secret_key, real = "not-the-secret", portal_app.secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(portal_app)
    forged = serializer.dumps({"user": "admin", "stamp": "x", "at": int(time.time())})
    portal_app.secret_key = real
    other.set_cookie("session", forged)
    assert other.get("/portal/audit").status_code == 302


def test_deleted_account_session_is_dropped(signed_in, accounts):
    import json

    client = signed_in("planner")
    data = json.loads(accounts.path.read_text())
    data["users"] = [u for u in data["users"] if u["name"] != "planner"]
    accounts.path.write_text(json.dumps(data))
    assert client.get("/portal/stations").status_code == 302


# -- bearer tokens ----------------------------------------------------------------------


def test_bearer_token_authenticates_api_calls(anon, tokens):
    response = anon.get("/api/audit", headers=bearer(tokens["admin"]))
    assert response.status_code == 200
    assert response.get_json()["ok"] is True


@pytest.mark.parametrize("header", [
    "Bearer ",
    "Bearer smt_000000000000_notarealtokenatallnotarealtoken",
    "Basic YWRtaW46cGFzc3dvcmQ=",
    "bearer" + " " * 3,
    "Bearer " + "x" * 10000,
    "Token abc",
])
def test_bad_authorization_header_is_401_with_www_authenticate(anon, header):
    response = anon.get("/api/audit", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["ok"] is False


def test_revoked_and_disabled_tokens_are_401(anon, tokens):
    assert anon.delete(f"/api/stations/{STATION}", headers=bearer(tokens.revoked)).status_code == 401
    assert anon.delete(f"/api/stations/{STATION}", headers=bearer(tokens["shapingba"])).status_code == 401


def test_bad_token_is_not_rescued_by_a_session_cookie(signed_in, tokens):
    client = signed_in("admin")
    response = client.get("/api/audit", headers=bearer(tokens.revoked))
    assert response.status_code == 401


def test_token_writes_need_no_csrf_but_session_writes_do(signed_in, anon, tokens):
    assert anon.patch(f"/api/stations/{STATION}", json={"phone": "023-11111111"},
                      headers=bearer(tokens["yuzhong"])).status_code == 200
    client = signed_in("yuzhong")
    response = client.patch(f"/api/stations/{STATION}", json={"phone": "023-22222222"})
    assert response.status_code == 400
    assert "CSRF" in response.get_json()["errors"][0]["message"]
    token = csrf_token(client, "/portal/stations")
    response = client.patch(f"/api/stations/{STATION}", json={"phone": "023-33333333"}, headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert response.get_json()["station"]["properties"]["phone"] == "023-33333333"


# -- throttling ---------------------------------------------------------------------------


def test_failed_logins_are_throttled_per_user_and_address(anon, portal_app):
    for _ in range(5):
        assert login(anon, "yuzhong", "wrong password!!").status_code == 401
    blocked = login(anon, "yuzhong")  # even the right password waits
    assert blocked.status_code == 429
    assert "登录失败次数过多" in blocked.get_data(as_text=True)
    assert blocked.headers["Retry-After"]
    # Another account from the same address is not locked out by yuzhong's failures.
    assert login(portal_app.test_client(), "jiangbei").status_code == 302


def test_successful_logins_do_not_count(portal_app):
    for _ in range(8):
        client = portal_app.test_client()
        assert login(client, "yuzhong").status_code == 302


def test_per_address_limit_stops_password_spraying(portal_app):
    client = portal_app.test_client()
    statuses = [login(client, f"user{i}", "wrong password!!").status_code for i in range(31)]
    assert statuses[:30] == [401] * 30
    assert statuses[30] == 429


def test_pages_with_csrf_tokens_are_not_compressed(client):
    # BREACH: a compressed page holding a secret next to reflected input leaks the secret.
    login = client.get("/login", headers={"Accept-Encoding": "gzip"})
    assert login.status_code == 200 and "Content-Encoding" not in login.headers
    assert client.get("/", headers={"Accept-Encoding": "gzip"}).headers.get("Content-Encoding") == "gzip"
