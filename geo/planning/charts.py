"""Server-side charts for planners: coverage by district, distance-to-station CDF, a plan's before/after, as PNG or SVG bytes.

Drawn with matplotlib's object API on the Agg canvas (no pyplot state), so they are safe to
render from web-server threads. Chinese labels need a CJK font: the first installed of
``CJK_FONT_PREFERENCE`` is used (Debian: ``fonts-noto-cjk``); without one, charts fall back
to English labels instead of drawing empty boxes.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from geo.errors import Problem, ValidationError
from geo.messages import Text, clipped, template
from geo.planning.popcoverage import PopulationCoverage
from geo.planning.provenance import format_moment
from geo.planning.siting import SitingPlan

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CJK_FONT_PREFERENCE = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
                       "SimHei", "Microsoft YaHei", "PingFang SC", "Noto Sans CJK JP")
CJK_FONT_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto", "/usr/share/fonts/truetype/wqy")
FORMATS = ("png", "svg")
COLOURS = {"population": "#c0392b", "area": "#95a5a6", "before": "#95a5a6", "after": "#c0392b", "line": "#2c3e50"}

class ChartWords:
    """A chart's words in one language, from the catalogue's ``chart.*`` codes (``words["title"]``)."""

    def __init__(self, lang: str):
        self.lang = lang

    def __getitem__(self, key: str) -> str:
        return template(f"chart.{key}", self.lang)


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Family name of an installed CJK font, or ``None``; registers Noto CJK files matplotlib has not indexed."""
    from pathlib import Path

    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FONT_PREFERENCE:
        if family in names:
            return family
    for folder in CJK_FONT_DIRS:
        for path in sorted(Path(folder).glob("*")) if Path(folder).is_dir() else []:
            if path.suffix.lower() in (".ttc", ".otf", ".ttf") and "Serif" not in path.name:
                try:
                    font_manager.fontManager.addfont(str(path))
                except (OSError, RuntimeError, ValueError):
                    continue
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FONT_PREFERENCE if family in names), None)


def _setup(lang: str, fmt: str) -> tuple[str, ChartWords]:
    if fmt not in FORMATS:
        raise ValidationError(Problem("format", Text("plan.bad_format", value=clipped(fmt), choices=", ".join(FORMATS))))
    if lang == "zh" and cjk_font() is None:
        lang = "en"
    return lang, ChartWords("zh" if lang == "zh" else "en")


def _figure(width: float, height: float) -> Figure:
    # matplotlib is imported when a chart is drawn, not with the app (0.5 s and 25 MB per server process)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _font(lang: str) -> dict:
    """Font keywords for text in ``lang`` (the CJK family first, DejaVu for Latin fallback)."""
    family = cjk_font() if lang == "zh" else None
    return {"family": [family, "DejaVu Sans"]} if family else {}


def _render(fig: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, metadata={"Software": None} if fmt == "png" else {"Date": None})
    return buffer.getvalue()


def coverage_by_district_chart(cov: PopulationCoverage, lang: str = "zh", fmt: str = "png", sort: str = "population") -> bytes:
    """Horizontal bars per district: population share and area share within the radius, worst-served at the bottom."""
    lang, words = _setup(lang, fmt)
    table = cov.table.sort_values("population_share" if sort == "population" else "area_share", ascending=True)
    labels = table["district" if lang == "zh" else "district_en"].str.replace(" District", "").str.replace(" County", "").tolist()
    labels = [label if len(label) <= 14 else label[:13] + "…" for label in labels]
    fig = _figure(8, max(4.0, 0.26 * len(table) + 1.2))
    from matplotlib import ticker

    ax = fig.add_subplot()
    y = np.arange(len(table))
    ax.barh(y + 0.2, table["population_share"], height=0.4, color=COLOURS["population"], label=words["population"])
    ax.barh(y - 0.2, table["area_share"], height=0.4, color=COLOURS["area"], label=words["area"])
    font = _font(lang)
    ax.set_yticks(y, labels, fontsize=8, **font)
    ax.xaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    ax.set_xlim(0, 1)
    title = words["coverage_title"].format(r=f"{cov.radius_m:g}")
    if cov.at is not None:
        title += words["at"].format(t=format_moment(cov.at, lang))
    ax.set_title(title, **font)
    ax.legend(loc="lower right", prop=font or None)
    ax.grid(axis="x", alpha=0.3)
    return _render(fig, fmt)


def distance_cdf_chart(cov: PopulationCoverage, lang: str = "zh", fmt: str = "png", adcodes: tuple[str, ...] = (),
                       max_km: float = 10.0) -> bytes:
    """Cumulative share of residents by distance to the nearest station, for the city and optional districts."""
    lang, words = _setup(lang, fmt)
    fig = _figure(7, 4.2)
    from matplotlib import ticker

    ax = fig.add_subplot()
    font = _font(lang)
    names = dict(zip(cov.table["adcode"], cov.table["district" if lang == "zh" else "district_en"], strict=True))
    for adcode in (None, *adcodes):
        d, share = cov.cdf_curve(adcode)
        ax.step(d / 1000, share, where="post", linewidth=2.2 if adcode is None else 1.2,
                color=COLOURS["line"] if adcode is None else None, label=words["all"] if adcode is None else names.get(adcode, adcode))
    ax.axvline(cov.radius_m / 1000, color=COLOURS["population"], linestyle="--", linewidth=1)
    ax.set_xlim(0, max_km)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(words["distance"], **font)
    ax.set_ylabel(words["residents"], **font)
    ax.set_title(words["cdf_title"], **font)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", prop=font or None)
    return _render(fig, fmt)


def plan_before_after_chart(plan: SitingPlan, lang: str = "zh", fmt: str = "png", top: int = 15) -> bytes:
    """Share of residents covered before and after the plan, for the districts that gain most."""
    lang, words = _setup(lang, fmt)
    table = plan.districts.sort_values("added", ascending=False).head(top).iloc[::-1]
    labels = table["district" if lang == "zh" else "district_en"].tolist()
    fig = _figure(7.5, max(3.0, 0.35 * len(table) + 1.4))
    from matplotlib import ticker

    ax = fig.add_subplot()
    font = _font(lang)
    y = np.arange(len(table))
    ax.barh(y - 0.2, table["share_before"], height=0.4, color=COLOURS["before"], label=words["before"])
    ax.barh(y + 0.2, table["share_after"], height=0.4, color=COLOURS["after"], label=words["after"])
    ax.set_yticks(y, labels, fontsize=9, **font)
    ax.xaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    ax.set_xlim(0, 1)
    title = words["plan_title"].format(n=len(plan.sites), r=f"{plan.radius_m:g}")
    if plan.at is not None:
        title += words["at"].format(t=format_moment(plan.at, lang))
    if plan.fewer_sites:
        title += words["fewer"].format(n=len(plan.sites), m=plan.n_new)   # one-letter placeholders: chart words are raw templates
    ax.set_title(title, **font)
    ax.legend(loc="lower right", prop=font or None)
    ax.grid(axis="x", alpha=0.3)
    return _render(fig, fmt)
