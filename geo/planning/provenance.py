"""Where an export's numbers come from: population source, cell size, radius, hour and day, registry version, method and solver status.

Every planning file (CSV, XLSX, report, JSON) carries one ``Provenance``, so a table handed on
at a meeting can be traced back and recomputed. Times are Chongqing local time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from geo.hours import chongqing_now
from geo.messages import localise

WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

STATUS_LABELS = {
    "greedy": ("贪心算法结果（非最优证明）", "greedy heuristic (no optimality proof)"),
    "optimal": ("已证明最优", "proven optimal"),
    "time_limit": ("达到时间上限，给出当时最优解及上界", "time limit reached: best plan found, with its bound"),
    "stopped": ("求解器未及时给出结果，采用贪心结果", "solver gave no plan in time: greedy plan reported"),
    "not_solved": ("未求解", "not solved"),
}
METHOD_LABELS = {"greedy": ("贪心", "greedy"), "exact": ("精确 MCLP（spopt + CBC）", "exact MCLP (spopt + CBC)")}


def format_moment(when: datetime | None, lang: str = "zh") -> str:
    """"2026-12-07（周一）22:00" / "Mon 2026-12-07 22:00"; all day when ``None``."""
    if when is None:
        return "全天（所有站点均计入）" if lang == "zh" else "all day (every station counts)"
    if lang == "zh":
        return f"{when:%Y-%m-%d}（{WEEKDAYS_ZH[when.weekday()]}）{when:%H:%M}"
    return f"{WEEKDAYS_EN[when.weekday()]} {when:%Y-%m-%d %H:%M}"


def registry_time(snapshot) -> str | None:
    """The latest ``updated_at`` of any station in the snapshot (ISO, Chongqing time), or None."""
    stamps = [f["properties"].get("updated_at") for f in snapshot.features]
    stamps = [s for s in stamps if isinstance(s, str)]
    return max(stamps) if stamps else None


@dataclass(frozen=True)
class Provenance:
    """What an export was computed from.

    population_kind : "modelled" or "uploaded"
    population_file : the uploaded file's name, or None
    population_detail : ``PopulationGrid.source`` in full
    cell_m, radius_m : metres
    at : Chongqing local time stations were filtered by, or None (all day)
    """

    population_kind: str
    population_file: str | None
    population_detail: object   # ``PopulationGrid.source``: a geo.messages.Text, or text
    cell_m: float
    radius_m: float
    at: datetime | None
    registry_version: int
    registry_updated: str | None
    method: str | None = None
    status: str | None = None
    generated_at: str = ""

    @classmethod
    def of(cls, snapshot, grid, radius_m: float, at=None, plan=None) -> Provenance:
        source = str(grid.source)
        uploaded = source.startswith(("raster ", "points "))
        file_name = source.split(" ", 1)[1].split(";")[0].split(",")[0].strip() if uploaded else None
        return cls("uploaded" if uploaded else "modelled", file_name, source, float(grid.cell_m), float(radius_m), at,
                   int(snapshot.version), registry_time(snapshot), plan.method if plan else None, plan.status if plan else None,
                   chongqing_now().strftime("%Y-%m-%d %H:%M"))

    def as_dict(self) -> dict:
        out = asdict(self)
        out["population_detail"] = str(self.population_detail)
        out["at"] = self.at.isoformat(timespec="minutes") if self.at else None
        out["at_label"] = {"zh": format_moment(self.at, "zh"), "en": format_moment(self.at, "en")}
        return out

    def rows(self, lang: str = "zh") -> list[tuple[str, str]]:
        """(label, value) pairs in the reader's language: the 说明 sheet and the CSV preamble."""
        zh = lang == "zh"
        if self.population_kind == "uploaded":
            pop = f"上传文件 {self.population_file}" if zh else f"uploaded file {self.population_file}"
        else:
            pop = "2020 年人口普查（按区县模型分布，非实测）" if zh else "2020 census, modelled within each district (not measured)"
        rows = [
            ("人口数据" if zh else "Population", pop),
            ("人口数据详情" if zh else "Population detail", str(localise(self.population_detail, lang))),
            ("网格大小" if zh else "Cell size", f"{self.cell_m:g} 米" if zh else f"{self.cell_m:g} m"),
            ("服务半径" if zh else "Radius", f"{self.radius_m:g} 米" if zh else f"{self.radius_m:g} m"),
            ("计入的站点" if zh else "Stations counted",
             ("开放于 " if zh else "open at ") + format_moment(self.at, lang) if self.at else format_moment(None, lang)),
            ("站点库版本" if zh else "Registry version", str(self.registry_version)),
            ("站点库最后更新" if zh else "Registry last updated", self.registry_updated or "–"),
        ]
        if self.method:
            rows.append(("选址方法" if zh else "Method", METHOD_LABELS.get(self.method, (self.method,) * 2)[0 if zh else 1]))
            rows.append(("求解状态" if zh else "Solver status",
                         STATUS_LABELS.get(self.status, (str(self.status),) * 2)[0 if zh else 1]))
        rows.append(("导出时间" if zh else "Exported", self.generated_at))
        rows.append(("网格误差" if zh else "Discretisation",
                     DISCRETISATION_NOTE[0 if zh else 1]))
        return rows


# Measured with scripts/bench_discretisation.py on the sample registry (radius 1,000 m; at 1,200 m: 1.7 and 1.0).
DISCRETISATION_NOTE = (
    "覆盖人口按网格中心是否在半径内计算：与 250 米网格相比，1 公里网格使单个区县的覆盖率最多偏差约 2.7 个百分点，"
    "500 米网格约 1.3 个百分点（覆盖统计默认 500 米网格）",
    "a cell counts as covered when its centre is within the radius: against 250 m cells, 1 km cells move a single "
    "district's share by up to about 2.7 percentage points, 500 m cells by about 1.3 (coverage defaults to 500 m cells)",
)
