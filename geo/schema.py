"""The station vocabulary: kinds, amenities, honours, statuses, CRS names and the property schema.

Every other module (validation, filters, forms, the map legend, the CLI) reads its
words and labels from here, so adding an amenity is a one-line change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A code with its Chinese and English label. Codes are what files and the API carry.


@dataclass(frozen=True)
class Term:
    code: str
    zh: str
    en: str

    def label(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


def _index(*terms: Term) -> dict[str, Term]:
    return {t.code: t for t in terms}


KINDS = _index(
    Term("outdoor_station", "户外劳动者服务站", "Outdoor-worker station"),
    Term("bookshelf", "职工书屋", "Worker bookshelf"),
    Term("childcare", "爱心托管班", "Childcare class"),
)

# Two-letter codes used inside station ids: 500103-OS-0001.
KIND_ID_CODES = {"outdoor_station": "OS", "bookshelf": "BS", "childcare": "CC"}

AMENITIES = _index(
    Term("rest", "休息", "Rest area"),
    Term("toilet", "如厕", "Toilet"),
    Term("drinking_water", "饮水", "Drinking water"),
    Term("cooling", "纳凉", "Cooling"),
    Term("heating", "取暖", "Heating"),
    Term("food_heating", "热饭", "Food heating"),
    Term("phone_charging", "充电", "Phone charging"),
    Term("reading", "阅读", "Reading"),
    Term("first_aid", "应急药箱", "First aid"),
    Term("battery_swap", "换电", "E-bike battery swap"),
    Term("discounted_meals", "爱心餐", "Discounted meals"),
    Term("legal_aid", "法律援助", "Legal aid"),
    Term("haircut", "理发", "Haircut"),
    Term("wifi", "无线网络", "Wi-Fi"),
    Term("accessible", "无障碍", "Step-free access"),
    Term("shelter", "避雨", "Shelter from rain"),
    Term("childcare", "托管", "Childcare"),
)

HONOURS = _index(
    Term("national_most_beautiful", "全国最美工会户外劳动者服务站", "National 'most beautiful' station"),
    Term("national_demonstration", "全国示范点", "National demonstration site"),
    Term("municipal_model", "市级示范站点", "Municipal model site"),
)

STATUSES = _index(
    Term("active", "在用", "Active"),
    Term("retired", "已撤销", "Retired"),
)

# Coordinate systems a user may type or upload in. Storage is always WGS-84.
INPUT_CRS = _index(
    Term("wgs84", "WGS-84（GPS、浏览器定位、天地图）", "WGS-84 (GPS, browser location, Tianditu)"),
    Term("gcj02", "GCJ-02（高德、腾讯、微信）", "GCJ-02 (Amap, Tencent, WeChat)"),
    Term("bd09", "BD-09（百度）", "BD-09 (Baidu)"),
)

SOURCES = ("sample", "district_upload", "admin")

# 上图: getting stations onto the map apps workers use. Each platform takes coordinates in its own datum.
LISTING_PLATFORMS = _index(
    Term("amap", "高德地图", "Amap"),
    Term("baidu", "百度地图", "Baidu Maps"),
    Term("tencent", "腾讯地图", "Tencent Maps"),
)
LISTING_STATUSES = _index(
    Term("not_submitted", "未提交", "Not submitted"),
    Term("submitted", "已提交", "Submitted"),
    Term("live", "已上线", "Live"),
    Term("rejected", "被驳回", "Rejected"),
)

# Property name -> (required, Python type(s), max length for strings).
# Lengths bound what a district can type; they are generous for real names.
PROPERTIES: dict[str, tuple[bool, type | tuple[type, ...], int | None]] = {
    "id": (True, str, 32),
    "kind": (True, str, None),
    "name": (True, str, 100),
    "address": (True, str, 200),
    "district_adcode": (True, str, 6),
    "district": (True, str, 20),
    "operator": (True, str, 100),
    "phone": (False, str, 40),
    "opening_hours": (True, str, 255),
    "amenities": (True, list, None),
    "honours": (False, list, None),
    "status": (True, str, None),
    "created_at": (True, str, 40),
    "updated_at": (True, str, 40),
    "source": (True, str, None),
    # 上图 status per platform, set by the district: {"amap": {"status": "submitted", "note": "…", "at": "…"}, …}
    # (checked by geo.listing.status, the only writer; absent means 未提交 everywhere).
    "listing": (False, dict, None),
}
PROPERTY_NAMES = tuple(PROPERTIES)

ID_PATTERN = re.compile(r"^(?P<adcode>5001\d\d|5002\d\d)-(?P<kind>OS|BS|CC)-(?P<serial>\d{4,6})$")
ADCODE_PATTERN = re.compile(r"^50\d{4}$")
PHONE_PATTERN = re.compile(r"^[0-9+()\- ]{5,40}$")

# Chongqing's bounding box with a margin, WGS-84 degrees: a cheap first check
# before the point-in-polygon test, and a hint when lon/lat look swapped.
CHONGQING_BBOX = (105.0, 27.9, 110.5, 32.5)

# Walking speed used to turn metres into minutes on the finder (4.5 km/h).
WALK_M_PER_MIN = 75.0


def kind_label(code: str, lang: str = "zh") -> str:
    return KINDS[code].label(lang) if code in KINDS else code


def amenity_label(code: str, lang: str = "zh") -> str:
    return AMENITIES[code].label(lang) if code in AMENITIES else code


def station_id(adcode: str, kind: str, serial: int) -> str:
    """Build a station id such as ``500103-OS-0001``."""
    return f"{adcode}-{KIND_ID_CODES[kind]}-{serial:04d}"


def vocabulary(lang: str = "zh") -> dict[str, dict[str, str]]:
    """All codes with labels in one language, for forms, legends and the API."""
    return {
        "kinds": {c: t.label(lang) for c, t in KINDS.items()},
        "amenities": {c: t.label(lang) for c, t in AMENITIES.items()},
        "honours": {c: t.label(lang) for c, t in HONOURS.items()},
        "statuses": {c: t.label(lang) for c, t in STATUSES.items()},
        "crs": {c: t.label(lang) for c, t in INPUT_CRS.items()},
    }
