"""Constants and helpers for the portal, auth and write-API tests (sign in, CSRF tokens, upload rows, registry snapshots).

The fixtures that use them are in ``tests.portal_fixtures`` (loaded with ``pytest_plugins``).
"""

from __future__ import annotations

import re
from pathlib import Path

from argon2 import PasswordHasher

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account's password
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')

# name -> (role, district)
ACCOUNTS = {
    "yuzhong": ("district", "500103"),
    "jiangbei": ("district", "500105"),
    "planner": ("planner", None),
    "admin": ("admin", None),
    "shapingba": ("district", "500106"),  # disabled after its token is issued
}

CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path)
    match = CSRF_INPUT.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


def login(client, name: str, password: str = PASSWORD, next_url: str | None = None):
    data = {"username": name, "password": password, "csrf_token": csrf_token(client)}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def registry_state(registry_path: Path) -> tuple[bytes, bytes]:
    """The registry file and its audit log, byte for byte (the log may not exist yet)."""
    audit = registry_path.with_name(registry_path.stem + ".audit.jsonl")
    return registry_path.read_bytes(), audit.read_bytes() if audit.exists() else b""


CSV_HEADER = "名称,类型,地址,主办单位,联系电话,开放时间,服务设施,经度,纬度\n"


def csv_bytes(*rows: str) -> bytes:
    return (CSV_HEADER + "".join(r + "\n" for r in rows)).encode("utf-8")


# A new station in 渝中区 (500103), far (> 30 m) from the fixture's stations there.
YUZHONG_ROW = "朝天门驿站,驿站,重庆市渝中区朝天门1号,渝中区总工会,023-63000001,24/7,休息、饮水,106.5850,29.5640"
# The same with latitude and longitude swapped: a blocking problem.
YUZHONG_ROW_SWAPPED = "较场口驿站,驿站,重庆市渝中区较场口2号,渝中区总工会,,Mo-Fr 08:00-18:00,休息,29.5500,106.5600"
YUZHONG_ROW_FIXED = "较场口驿站,驿站,重庆市渝中区较场口2号,渝中区总工会,,Mo-Fr 08:00-18:00,休息,106.5600,29.5500"
# About 10 m from the fixture's 500103-OS-0001 (106.5770, 29.5590): a near-duplicate warning.
YUZHONG_ROW_NEAR = "解放碑二号驿站,驿站,重庆市渝中区民族路3号,渝中区总工会,,24/7,休息,106.5771,29.5590"
# A station in 江北区 (500105).
JIANGBEI_ROW = "观音桥驿站,驿站,重庆市江北区观音桥4号,江北区总工会,,24/7,休息、充电,106.5330,29.5750"
