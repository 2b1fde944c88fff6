"""Idempotency-Key: a retried upload or edit is written once and answered with the first answer, across worker processes."""

from __future__ import annotations

import io
import json
import re

from tests.portal_helpers import CSV_HEADER, YUZHONG_ROW, bearer, csrf_token, registry_state
from webmap.portal.idempotency import IdempotencyStore

pytest_plugins = ("tests.portal_fixtures",)

OWN = "500103-OS-0002"


def upload(client, token, key, row=YUZHONG_ROW):
    data = {"file": (io.BytesIO((CSV_HEADER + row + "\n").encode()), "stations.csv"), "crs": "wgs84", "dry_run": "0"}
    return client.post("/api/uploads", data=data, headers={**bearer(token), "Idempotency-Key": key},
                       content_type="multipart/form-data")


def names(registry_path) -> list[str]:
    return [f["properties"]["name"] for f in json.loads(registry_path.read_text(encoding="utf-8"))["features"]]


def test_a_retried_upload_with_the_same_key_is_written_once(anon, tokens, registry_path):
    first = upload(anon, tokens["yuzhong"], "upload-key-0001")
    assert first.status_code == 201, first.get_json()
    after_first = registry_state(registry_path)
    again = upload(anon, tokens["yuzhong"], "upload-key-0001")
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert registry_state(registry_path) == after_first  # registry and audit log unchanged by the retry
    assert names(registry_path).count("朝天门驿站") == 1
    # Without the key (or with a new one) the same file is a new request: it is checked again
    # (here refused as a near-duplicate of the station just added, not silently written twice).
    assert upload(anon, tokens["yuzhong"], "upload-key-0002").status_code in (400, 409)


def test_the_same_key_for_a_different_request_is_422_and_writes_nothing(anon, tokens, registry_path):
    assert upload(anon, tokens["yuzhong"], "upload-key-0003").status_code == 201
    before = registry_state(registry_path)
    other = upload(anon, tokens["yuzhong"], "upload-key-0003", row=YUZHONG_ROW.replace("朝天门", "洪崖洞"))
    assert other.status_code == 422 and other.get_json()["status"] == 422
    assert registry_state(registry_path) == before


def test_keys_belong_to_one_account(anon, tokens):
    headers = {"Idempotency-Key": "shared-key-0001"}
    mine = anon.patch(f"/api/stations/{OWN}", json={"phone": "023-55555555"}, headers={**bearer(tokens["yuzhong"]), **headers})
    theirs = anon.patch(f"/api/stations/{OWN}", json={"phone": "023-55555555"}, headers={**bearer(tokens["admin"]), **headers})
    assert mine.status_code == theirs.status_code == 200
    assert "Idempotent-Replayed" not in theirs.headers


def test_a_retried_patch_replays_the_first_answer(anon, tokens, registry_path):
    headers = {**bearer(tokens["yuzhong"]), "Idempotency-Key": "patch-key-0001"}
    first = anon.patch(f"/api/stations/{OWN}", json={"phone": "023-66666666"}, headers=headers)
    state = registry_state(registry_path)
    again = anon.patch(f"/api/stations/{OWN}", json={"phone": "023-66666666"}, headers=headers)
    assert first.status_code == again.status_code == 200 and again.get_json() == first.get_json()
    assert registry_state(registry_path) == state


def test_portal_forms_carry_a_fresh_key_and_a_double_submit_is_applied_once(signed_in, registry_path):
    client = signed_in("yuzhong")
    page = client.get(f"/portal/stations/{OWN}/edit").get_data(as_text=True)
    keys = re.findall(r'name="idempotency_key" value="([^"]+)"', page)
    assert len(keys) == 1
    assert keys[0] not in client.get(f"/portal/stations/{OWN}/edit").get_data(as_text=True)  # fresh per render
    form = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    form.update({"name": "解放碑改名驿站", "csrf_token": csrf_token(client, f"/portal/stations/{OWN}/edit"),
                 "idempotency_key": keys[0]})
    first = client.post(f"/portal/stations/{OWN}/edit", data=form)
    assert first.status_code == 302, first.get_data(as_text=True)[:300]
    assert names(registry_path).count("解放碑改名驿站") == 1
    state = registry_state(registry_path)
    again = client.post(f"/portal/stations/{OWN}/edit", data={**form, "csrf_token": csrf_token(client, "/portal/stations")})
    assert again.status_code == first.status_code and again.headers.get("Location") == first.headers.get("Location")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert registry_state(registry_path) == state


def test_the_store_is_shared_by_processes_and_refuses_a_stale_pending_key(tmp_path):
    one = IdempotencyStore(tmp_path / "i.sqlite", ttl_s=3600, stale_s=300)
    two = IdempotencyStore(tmp_path / "i.sqlite", ttl_s=3600, stale_s=300)
    assert one.begin("yuzhong", "k-00000001", "f")[0] == "new"
    assert two.begin("yuzhong", "k-00000001", "f")[0] == "pending"
    assert two.begin("yuzhong", "k-00000001", "g")[0] == "mismatch"
    stale = IdempotencyStore(tmp_path / "i.sqlite", ttl_s=3600, stale_s=-1)
    assert stale.begin("yuzhong", "k-00000001", "f")[0] == "stale"  # died mid-request: never run it again
    assert one.begin("jiangbei", "k-00000001", "f")[0] == "new"
