"""UI strings of the planners' workbench and its printable report, in Chinese and English (``plt(key)`` in templates).

Kept apart from ``webmap.core.i18n`` (the public pages' strings), like ``webmap.core.portal_text``;
the language itself comes from ``webmap.core.i18n.get_lang`` so every page agrees.
"""

from __future__ import annotations

from webmap.core.i18n import get_lang

# key -> (Chinese, English). Placeholders use str.format names (the page script fills {n} and friends).
STRINGS: dict[str, tuple[str, str]] = {
    "nav_planner": ("规划工作台", "Planner"),
    "title_planner": ("规划工作台", "Planners' workbench"),
    "planner_intro": (
        "按居住人口衡量驿站服务覆盖，找出服务空白，给出新建站点的优先位置。",
        "Coverage measured by residents, the gaps, and where to build next.",
    ),
    "population_note": (
        "人口为 2020 年第七次人口普查各区县常住人口，按密度模型分布到网格，是模型推算而非实测。",
        "Residents are each district's 2020 census population spread over a grid by a density model: modelled, not measured.",
    ),
    "settings": ("规划条件", "Settings"),
    "radius": ("服务圈", "Service circle"),
    "preset_walk15": ("步行15分钟 · 1.2 公里", "15 min on foot · 1.2 km"),
    "preset_ebike15": ("电动车15分钟 · 4 公里", "15 min by e-bike · 4 km"),
    "radius_custom": ("自定义（米）", "Custom (m)"),
    "hour": ("时段", "Time of day"),
    "hour_all": ("全天（全部站点）", "All day (every station)"),
    "hour_at": ("指定时间（只计开放的站点）", "At a time (open stations only)"),
    "hour_input": ("时间", "Time"),
    "district": ("区县", "District"),
    "district_all": ("全市", "Whole city"),
    "new_sites": ("新建站点数（1–{max}）", "New stations (1–{max})"),
    "method": ("方法", "Method"),
    "method_greedy": ("快速（贪心）", "Fast (greedy)"),
    "method_exact": ("精确（MCLP）", "Exact (MCLP)"),
    "method_both": ("两者对比", "Compare both"),
    "time_limit": ("求解时限（秒，最多 {max}）", "Time limit (s, at most {max})"),
    "time_limit_hint": ("精确求解到时限即停止并给出当前最好的方案；建模时间另计。",
                        "The exact solver stops at the limit with the best plan found; building the model comes on top."),
    "candidates": ("候选地点（可选）", "Candidate sites (optional)"),
    "candidates_hint": ("CSV 文件：名称, 经度, 纬度（WGS-84）。不上传则以范围内全部网格中心为候选。",
                        "CSV file: name, lon, lat (WGS-84). Without one, every grid cell centre in scope is a candidate."),
    "run_plan": ("规划新站点", "Plan new stations"),
    "computing": ("正在计算覆盖…", "Computing coverage…"),
    "planning": ("正在规划…", "Planning…"),
    "planning_exact": ("正在精确求解…最长约 {s} 秒，另加建模时间。", "Solving exactly… up to about {s} s plus the model build."),
    "plan_ready": ("已给出 {n} 个建议新站点。", "{n} new sites proposed."),
    "plan_failed": ("规划失败：{message}", "Planning failed: {message}"),
    "load_failed": ("加载失败：{message}", "Could not load: {message}"),
    "invalid_radius": ("服务圈须在 1 至 50000 米之间。", "The circle must be 1 to 50,000 m."),
    "invalid_time": ("请填写时间，如 22:30。", "Enter a time such as 22:30."),
    "invalid_new": ("新建站点数须为 1 至 {max} 的整数。", "New stations must be a whole number from 1 to {max}."),
    "invalid_limit": ("求解时限须在 1 至 {max} 秒之间。", "The time limit must be 1 to {max} s."),
    # Figures
    "summary_title": ("{scope}：{r} 服务圈", "{scope}: {r} circle"),
    "at_note": ("只计 {t} 开放的站点", "Stations open at {t} only"),
    "col_district": ("区县", "District"),
    "col_population": ("常住人口", "Population"),
    "col_stations": ("站点数", "Stations"),
    "col_pop_share": ("人口覆盖率", "Residents covered"),
    "col_area_share": ("面积覆盖率", "Area covered"),
    "col_per_station": ("每站服务人口", "Residents per station"),
    "col_median": ("距最近站点（中位数）", "Median distance to a station"),
    "col_uncovered": ("未覆盖人口", "Residents not covered"),
    "col_before": ("现状覆盖率", "Covered now"),
    "col_after": ("规划后覆盖率", "Covered after"),
    "col_added": ("新增覆盖人口", "Residents added"),
    "col_new": ("新站点", "New sites"),
    "col_cumulative": ("累计新增", "Cumulative"),
    "col_rank": ("薄弱排名", "Worst-served rank"),
    "table_title": ("各区县人口覆盖（按人口覆盖率从低到高）", "Coverage by district (lowest population share first)"),
    "totals": ("全市合计", "Whole city"),
    "people": ("{n} 人", "{n}"),
    # Proposals
    "proposals": ("建议新建站点", "Proposed sites"),
    "no_plan": ("选好条件后点“规划新站点”。", "Choose the settings and press “Plan new stations”."),
    "site_added": ("新增覆盖 {n} 人", "+{n} residents"),
    "site_cumulative": ("累计 {n} 人", "{n} in total"),
    "grid_cell": ("网格 {id}", "grid cell {id}"),
    "site_zoom": ("在地图上查看第 {n} 个", "Show site {n} on the map"),
    "plan_totals": ("覆盖人口 {before} → {after}（{share_before} → {share_after}）",
                    "Residents covered {before} → {after} ({share_before} → {share_after})"),
    "plan_hours_note": ("规划按全部在册站点计算，不区分时段。", "Plans count every active station, whatever the hour."),
    "compare_title": ("贪心与精确解对比", "Greedy and exact compared"),
    "objective": ("覆盖人口", "Residents covered"),
    "method_label_greedy": ("贪心", "Greedy"),
    "method_label_exact": ("精确 MCLP", "Exact MCLP"),
    "status_greedy": ("贪心", "greedy"),
    "status_optimal": ("已证明最优", "proven optimal"),
    "status_time_limit": ("到达时限，为当前最好方案", "time limit reached: best plan found"),
    "status_stopped": ("求解器未在时限内给出解，沿用贪心方案", "no solution in time: the greedy sites are kept"),
    "status_not_solved": ("未求得解", "not solved"),
    "bound": ("上界 {n}，差距 {gap}", "bound {n}, gap {gap}"),
    "runtime": ("用时 {s} 秒", "{s} s"),
    "greedy_ratio": ("贪心解达到精确解的 {pct}", "greedy reaches {pct} of exact"),
    # Map
    "map_label": ("规划地图", "Planning map"),
    "layer_existing": ("现有站点", "Existing stations"),
    "layer_gap_cells": ("服务空白（人口最多的网格）", "Gaps (cells with most residents)"),
    "layer_proposals": ("建议新站点", "Proposed sites"),
    "layer_circles": ("新站点服务圈", "Service circles of new sites"),
    "legend_existing": ("现有站点", "Existing station"),
    "legend_gap": ("未覆盖网格", "Uncovered cell"),
    "legend_site": ("建议新站点（编号）", "Proposed site (ranked)"),
    # Downloads and charts
    "downloads": ("下载", "Downloads"),
    "download_csv": ("站点表 CSV", "Sites (CSV)"),
    "download_geojson": ("GeoJSON", "GeoJSON"),
    "download_xlsx": ("Excel 工作簿", "Excel workbook"),
    "print_report": ("打印报告", "Printable report"),
    "charts": ("图表", "Charts"),
    "chart_coverage": ("各区县人口与面积覆盖率", "Residents and area covered, by district"),
    "chart_cdf": ("居民到最近站点的距离", "Distance from residents to the nearest station"),
    "chart_plan": ("规划前后人口覆盖率", "Residents covered before and after the plan"),
    # Report
    "report_title": ("{name}驿站服务覆盖报告", "Station coverage report: {name}"),
    "report_generated": ("生成于 {time}（重庆时间） · 站点库版本 {version}", "Generated {time} (Chongqing time) · registry version {version}"),
    "report_settings": ("服务圈 {r}；{hours}；新建 {n} 个站点（{method}）", "Circle {r}; {hours}; {n} new stations ({method})"),
    "at_note_report": ("只计 {t} 开放的站点", "stations open at {t} only"),
    "report_all_day": ("全天全部站点", "every station, all day"),
    "report_key_figures": ("主要指标", "Key figures"),
    "report_rank": ("人口覆盖率排名", "Rank by residents covered"),
    "report_rank_value": ("由低到高第 {rank} 位（共 {n} 个）", "{rank} of {n}, lowest first"),
    "report_map": ("站点、服务空白与建议新站点", "Stations, gaps and proposed sites"),
    "report_map_legend": ("灰点：现有站点；红色方格：未覆盖人口最多的网格；红色编号：建议新站点，浅色圆为其服务圈。",
                          "Grey dots: existing stations; red squares: the uncovered cells with most residents; "
                          "red numbers: proposed sites, with their service circles."),
    "report_sites": ("建议新建站点", "Proposed sites"),
    "report_before_after": ("规划前后", "Before and after"),
    "report_districts": ("各区县", "Districts"),
    "report_gaps": ("未覆盖人口最多的网格", "Uncovered cells with most residents"),
    "report_no_sites": ("没有能新增覆盖人口的候选地点。", "No candidate adds any resident."),
    "col_lonlat": ("经度, 纬度（WGS-84）", "Lon, lat (WGS-84)"),
    "col_name": ("名称", "Name"),
    "col_cell_residents": ("网格人口", "Residents in the cell"),
    "col_nearest": ("距最近站点", "Nearest station"),
    "print": ("打印 / 存为 PDF", "Print / save as PDF"),
    "back_to_planner": ("返回规划工作台", "Back to the workbench"),
    "scale_km": ("{n} 公里", "{n} km"),
}

# Strings the page script uses, sent once per page as JSON.
JS_KEYS = (
    "computing", "planning", "planning_exact", "plan_ready", "plan_failed", "load_failed", "invalid_radius", "invalid_time",
    "invalid_new", "invalid_limit", "summary_title", "at_note", "col_district", "col_population", "col_stations",
    "col_pop_share", "col_area_share", "col_per_station", "col_median", "col_uncovered", "col_before", "col_after",
    "col_added", "col_new", "col_rank", "totals", "people", "no_plan", "site_added", "site_cumulative", "site_zoom", "grid_cell",
    "plan_totals", "plan_hours_note", "compare_title", "objective", "method_label_greedy", "method_label_exact",
    "status_greedy", "status_optimal", "status_time_limit", "status_stopped", "status_not_solved", "bound", "runtime", "greedy_ratio",
    "layer_existing", "layer_gap_cells", "layer_proposals", "layer_circles", "legend_existing", "legend_gap",
    "legend_site", "district_all", "preset_walk15", "preset_ebike15", "method",
)


def plt(key: str, **values) -> str:
    """Planner string ``key`` in this request's language, formatted with ``values``."""
    pair = STRINGS.get(key)
    if pair is None:
        return key
    text = pair[1] if get_lang() == "en" else pair[0]
    return text.format(**values) if values else text


def js_strings() -> dict[str, str]:
    """The unformatted strings the page script needs (prefixed ``pl_`` so they never clash with the site's)."""
    index = 1 if get_lang() == "en" else 0
    return {f"pl_{key}": STRINGS[key][index] for key in JS_KEYS}
