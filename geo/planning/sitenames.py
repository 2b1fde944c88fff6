"""Names a person can use for proposed sites: district and nearest street (街道/镇/乡) taken from the registry's addresses.

A grid cell chosen by the siting model has no name of its own. The nearest registered
station *in the same district* whose address names a sub-district (``重庆市渝北区龙溪街道…`` →
``龙溪街道``) lends it one: "渝北区 龙溪街道附近 (1)", numbered per district and street in rank
order. With no such station in the district the site is "渝北区 新址 (1)". Distances for the
lookup are Albers metres (``geo.projection``); coordinates in and out are WGS-84.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from geo.messages import translate
from geo.projection import lonlat_to_metric

# The sub-district after the county-level name: 街道 (urban), 镇 (town), 乡 (township).
_SUBDISTRICT = re.compile(r"(?:区|县|自治县)([\u4e00-\u9fff]{1,8}?(?:街道|镇|乡))")


def street_of(address) -> str | None:
    """The 街道/镇/乡 named in a Chinese address, or None (``"重庆市万州区双河口街道体育二路12号"`` → ``"双河口街道"``)."""
    if not isinstance(address, str):
        return None
    m = _SUBDISTRICT.search(address)
    return m[1] if m else None


def nearest_streets(lon, lat, adcodes, stations: pd.DataFrame) -> list[str | None]:
    """For each WGS-84 point, the street of the nearest station in the same district (``adcode``) that names one.

    ``stations`` needs ``address`` and ``district_adcode`` and point geometries (EPSG:4326).
    """
    from scipy.spatial import cKDTree

    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    out: list[str | None] = [None] * len(lon)
    if len(lon) == 0 or len(stations) == 0 or "address" not in stations.columns:
        return out
    streets = stations["address"].map(street_of)
    known = streets.notna().to_numpy()
    if not known.any():
        return out
    sx, sy = lonlat_to_metric(stations.geometry.x.to_numpy()[known], stations.geometry.y.to_numpy()[known])
    codes = stations["district_adcode"].astype(str).to_numpy()[known]
    names = streets.to_numpy()[known]
    px, py = lonlat_to_metric(lon, lat)
    adcodes = np.asarray(adcodes, dtype=object)
    for code in set(adcodes.tolist()):
        mine = np.flatnonzero(codes == code)
        if len(mine) == 0:
            continue
        targets = np.flatnonzero(adcodes == code)
        _, nearest = cKDTree(np.column_stack([sx[mine], sy[mine]])).query(np.column_stack([px[targets], py[targets]]), k=1)
        for t, n in zip(targets, np.atleast_1d(nearest), strict=True):
            out[t] = names[mine[n]]
    return out


def site_names(lon, lat, adcodes, district_names_zh: dict, district_names_en: dict,
               stations: pd.DataFrame) -> tuple[list[str], list[str], list[str | None]]:
    """(Chinese names, English names, streets) for sites given in rank order.

    "渝北区 龙溪街道附近 (1)" / "Yubei District, near 龙溪街道 (1)"; the number counts the sites near
    the same street in the same district, so every name in one plan is distinct.
    """
    streets = nearest_streets(lon, lat, adcodes, stations)
    seen: Counter = Counter()
    zh, en = [], []
    for code, street in zip(adcodes, streets, strict=True):
        seen[(code, street)] += 1
        k = seen[(code, street)]
        dz, de = district_names_zh.get(code, code), district_names_en.get(code, code)
        if street:
            zh.append(translate("site.name_near", "zh", district=dz, street=street, k=k))
            en.append(translate("site.name_near", "en", district=de, street=street, k=k))
        else:
            zh.append(translate("site.name_new", "zh", district=dz, k=k))
            en.append(translate("site.name_new", "en", district=de, k=k))
    return zh, en, streets
