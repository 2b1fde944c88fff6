"""Message codes that the code builds at run time (``Text(f"field.{name}")``, ``"planner.status_" + status`` in a
script), listed so that ``pybabel extract`` finds them and ``pybabel update`` keeps them. Never imported;
tests/test_i18n.py fails when a catalogue entry is neither used literally nor listed here."""


def N_(code: str) -> str:
    return code


# (page)
CODES_PAGE = (
    N_("base_amap"),
    N_("base_osm"),
    N_("base_tianditu"),
    N_("call"),
    N_("closes_at"),
    N_("district"),
    N_("footer_map_data"),
    N_("in_view_grouped"),
    N_("layer_districts"),
    N_("layer_labels"),
    N_("legend_cluster"),
    N_("legend_honoured"),
    N_("navigate"),
    N_("share_link"),
    N_("zoom_in"),
)
# api
CODES_API = (
    N_("api.auth_bad_header"),
    N_("api.auth_bad_token"),
    N_("api.auth_expired"),
    N_("api.auth_required"),
    N_("api.csrf_reason"),
)
# chart
CODES_CHART = (
    N_("chart.after"),
    N_("chart.all"),
    N_("chart.area"),
    N_("chart.at"),
    N_("chart.before"),
    N_("chart.cdf_title"),
    N_("chart.coverage_title"),
    N_("chart.distance"),
    N_("chart.plan_title"),
    N_("chart.population"),
    N_("chart.residents"),
    N_("chart.share"),
)
# cli
CODES_CLI = (
    N_("cli.col.added"),
    N_("cli.col.all_stations"),
    N_("cli.col.area_share"),
    N_("cli.col.bookshelf"),
    N_("cli.col.childcare"),
    N_("cli.col.cumulative"),
    N_("cli.col.district"),
    N_("cli.col.hours"),
    N_("cli.col.id"),
    N_("cli.col.kind"),
    N_("cli.col.lat"),
    N_("cli.col.lon"),
    N_("cli.col.median"),
    N_("cli.col.metres"),
    N_("cli.col.name"),
    N_("cli.col.per_100km2"),
    N_("cli.col.per_10k"),
    N_("cli.col.per_station"),
    N_("cli.col.population_share"),
    N_("cli.col.residents"),
    N_("cli.col.stations"),
    N_("cli.col.walk"),
    N_("cli.method.exact"),
    N_("cli.method.greedy"),
)
# csv (webmap.public.reports.csv_headers)
CODES_CSV = (
    N_("csv.adcode"),
    N_("csv.district"),
    N_("csv.district_en"),
    N_("csv.population"),
    N_("csv.area_km2"),
    N_("csv.stations"),
    N_("csv.per_10k_residents"),
    N_("csv.per_100km2"),
    N_("csv.covered_km2"),
    N_("csv.covered_share"),
)
# column
CODES_COLUMN = (
    N_("column.adcode"),
    N_("column.added"),
    N_("column.area_km2"),
    N_("column.area_share"),
    N_("column.best_bound"),
    N_("column.comparison"),
    N_("column.covered_after"),
    N_("column.covered_before"),
    N_("column.covered_km2"),
    N_("column.cumulative_added"),
    N_("column.distance_m"),
    N_("column.district"),
    N_("column.district_adcode"),
    N_("column.district_en"),
    N_("column.gap"),
    N_("column.item"),
    N_("column.lat"),
    N_("column.lon"),
    N_("column.median_distance_m"),
    N_("column.method"),
    N_("column.model_size"),
    N_("column.n_new"),
    N_("column.name"),
    N_("column.nearest_m"),
    N_("column.new_sites"),
    N_("column.notes"),
    N_("column.objective"),
    N_("column.population"),
    N_("column.population_share"),
    N_("column.radius_m"),
    N_("column.rank"),
    N_("column.residents"),
    N_("column.residents_added"),
    N_("column.residents_covered"),
    N_("column.residents_per_station"),
    N_("column.residents_uncovered"),
    N_("column.runtime_s"),
    N_("column.share"),
    N_("column.share_after"),
    N_("column.share_before"),
    N_("column.sites_chosen"),
    N_("column.stations"),
    N_("column.status"),
    N_("column.value"),
    N_("column.x"),
    N_("column.y"),
)
# crs
CODES_CRS = (
    N_("crs.source.bd09"),
    N_("crs.source.gcj02"),
    N_("crs.source.wgs84"),
)
# dup
CODES_DUP = (
    N_("dup.existing"),
    N_("dup.existing_same_name"),
    N_("dup.retired"),
    N_("dup.retired_same_name"),
)
# field
CODES_FIELD = (
    N_("field.action"),
    N_("field.actor"),
    N_("field.address"),
    N_("field.amenities"),
    N_("field.coordinates"),
    N_("field.created_at"),
    N_("field.crs"),
    N_("field.district"),
    N_("field.district_adcode"),
    N_("field.file"),
    N_("field.honours"),
    N_("field.id"),
    N_("field.kind"),
    N_("field.lat"),
    N_("field.lon"),
    N_("field.name"),
    N_("field.opening_hours"),
    N_("field.operator"),
    N_("field.phone"),
    N_("field.since"),
    N_("field.source"),
    N_("field.station_id"),
    N_("field.status"),
    N_("field.until"),
    N_("field.updated_at"),
)
# hours
CODES_HOURS = (
    N_("hours.always"),
    N_("hours.closed_indefinitely"),
    N_("hours.closes_on"),
    N_("hours.closes_today"),
    N_("hours.closes_tomorrow"),
    N_("hours.daily"),
    N_("hours.date"),
    N_("hours.days_off"),
    N_("hours.holidays"),
    N_("hours.list_sep"),
    N_("hours.open_always"),
    N_("hours.open_end"),
    N_("hours.opens_on"),
    N_("hours.opens_today"),
    N_("hours.opens_tomorrow"),
    N_("hours.range"),
    N_("hours.rules_sep"),
)
# http
CODES_HTTP = (
    N_("http.400"),
    N_("http.401"),
    N_("http.403"),
    N_("http.404"),
    N_("http.405"),
    N_("http.406"),
    N_("http.408"),
    N_("http.413"),
    N_("http.414"),
    N_("http.415"),
    N_("http.429"),
    N_("http.431"),
    N_("http.501"),
    N_("http.503"),
)
# json
CODES_JSON = (
    N_("json.why.colon"),
    N_("json.why.comma"),
    N_("json.why.control"),
    N_("json.why.extra"),
    N_("json.why.name"),
    N_("json.why.string"),
    N_("json.why.value"),
)
# method
CODES_METHOD = (
    N_("method.exact"),
    N_("method.greedy"),
)
# month
CODES_MONTH = (
    N_("month.1"),
    N_("month.10"),
    N_("month.11"),
    N_("month.12"),
    N_("month.2"),
    N_("month.3"),
    N_("month.4"),
    N_("month.5"),
    N_("month.6"),
    N_("month.7"),
    N_("month.8"),
    N_("month.9"),
)
# param
CODES_PARAM = (
    N_("param.accepted"),
    N_("param.bbox_count"),
    N_("param.between"),
    N_("param.bool"),
    N_("param.empty_list"),
    N_("param.from_to"),
    N_("param.iso_datetime"),
    N_("param.minlat_gt"),
    N_("param.minlon_gt"),
    N_("param.n_codes"),
    N_("param.named"),
    N_("param.no_params"),
    N_("param.not_known"),
    N_("param.number"),
    N_("param.part_between"),
    N_("param.part_number"),
    N_("param.repeated"),
    N_("param.required"),
    N_("param.see_docs"),
    N_("param.too_long"),
    N_("param.unknown"),
    N_("param.whole"),
    N_("param.years"),
)
# place
CODES_PLACE = (
    N_("place.features"),
    N_("place.file"),
    N_("place.geometry"),
    N_("place.geometry_type"),
    N_("place.properties"),
    N_("place.rows"),
)
# planner
CODES_PLANNER = (
    N_("planner.col_before"),
    N_("planner.downloads"),
    N_("planner.method_both"),
    N_("planner.method_exact"),
    N_("planner.method_greedy"),
    N_("planner.method_label_exact"),
    N_("planner.method_label_greedy"),
    N_("planner.preset_ebike15"),
    N_("planner.preset_walk15"),
    N_("planner.report_before_after"),
    N_("planner.status_greedy"),
    N_("planner.status_not_solved"),
    N_("planner.status_optimal"),
    N_("planner.status_stopped"),
    N_("planner.status_time_limit"),
)
# pop
CODES_POP = (
    N_("pop.band"),
    N_("pop.pixel.infinite"),
    N_("pop.pixel.nan"),
    N_("pop.pixel.negative"),
    N_("pop.role.lat"),
    N_("pop.role.lon"),
    N_("pop.role.weight"),
    N_("pop.row_name"),
)
# portal
CODES_PORTAL = (
    N_("portal.action_add"),
    N_("portal.action_restore"),
    N_("portal.action_retire"),
    N_("portal.action_update"),
    N_("portal.bad_credentials"),
    N_("portal.csrf_failed"),
    N_("portal.forbidden"),
    N_("portal.honours_admin_only"),
    N_("portal.role_admin"),
    N_("portal.role_district"),
    N_("portal.role_planner"),
    N_("portal.throttled"),
    N_("portal.too_large"),
    N_("portal.upload_bad_crs"),
    N_("portal.upload_missing"),
)
# prop
CODES_PROP = (
    N_("prop.unknown_amenity"),
    N_("prop.unknown_honour"),
)
# sheet
CODES_SHEET = (
    N_("sheet.districts"),
    N_("sheet.sites"),
    N_("sheet.summary"),
)
# type
CODES_TYPE = (
    N_("type.NoneType"),
    N_("type.bool"),
    N_("type.dict"),
    N_("type.float"),
    N_("type.int"),
    N_("type.list"),
    N_("type.str"),
)
# abuse: gates name their kind and a stopped job's limit at run time (webmap.core.gates), idempotency refusals pass the code on
CODES_ABUSE = (
    N_("busy.job_memory"),
    N_("busy.job_time"),
    N_("busy.password"),
    N_("busy.plan"),
    N_("busy.upload"),
    N_("idem.bad_key"),
    N_("idem.mismatch"),
    N_("idem.pending"),
    N_("idem.stale"),
)
# riders (issue 12): codes chosen at run time (a field's name, a note, a limit's period, a place's kind)
CODES_RIDERS = (
    N_("field.category"),
    N_("field.facility"),
    N_("field.note"),
    N_("field.outcome"),
    N_("field.reason"),
    N_("field.verified_at"),
    N_("finder.outside"),
    N_("finder.too_far"),
    N_("place_kind_district"),
    N_("place_kind_landmark"),
    N_("place_kind_station"),
    N_("place_kind_street"),
    N_("place_kind_subdistrict"),
    N_("point.lat_range"),
    N_("point.lon_range"),
    N_("report.per.DAY"),
    N_("report.per.HOUR"),
    N_("report.per.MINUTE"),
    N_("report.per.MONTH"),
    N_("report.per.SECOND"),
    N_("report.per.YEAR"),
    N_("report.too_many_address"),
    N_("report.too_many_station"),
)
# planners (issue 13): export columns and sheet names, chosen per column/sheet in geo/planning/export.py (``f"export.col.{code}"``, ``f"export.sheet.{code}"``), the plan summary's items (``f"export.summary.{item}"``) and the city total row (``template("export.city_total")``)
CODES_EXPORT = (
    N_("export.col.adcode"),
    N_("export.col.added"),
    N_("export.col.area_km2"),
    N_("export.col.area_share"),
    N_("export.col.covered_after"),
    N_("export.col.covered_before"),
    N_("export.col.covered_km2"),
    N_("export.col.cumulative_added"),
    N_("export.col.distance_m"),
    N_("export.col.district"),
    N_("export.col.district_en"),
    N_("export.col.item"),
    N_("export.col.lat"),
    N_("export.col.lat_gcj02"),
    N_("export.col.lon"),
    N_("export.col.lon_gcj02"),
    N_("export.col.median_distance_m"),
    N_("export.col.name"),
    N_("export.col.name_en"),
    N_("export.col.nearest_m"),
    N_("export.col.new_sites"),
    N_("export.col.population"),
    N_("export.col.population_share"),
    N_("export.col.rank"),
    N_("export.col.residents"),
    N_("export.col.residents_added"),
    N_("export.col.residents_covered"),
    N_("export.col.residents_per_station"),
    N_("export.col.residents_uncovered"),
    N_("export.col.share"),
    N_("export.col.share_after"),
    N_("export.col.share_before"),
    N_("export.col.stations"),
    N_("export.col.street"),
    N_("export.col.value"),
    N_("export.col.x"),
    N_("export.col.y"),
    N_("export.sheet.coverage"),
    N_("export.sheet.distance_cdf"),
    N_("export.sheet.districts"),
    N_("export.sheet.districts_exact"),
    N_("export.sheet.districts_greedy"),
    N_("export.sheet.gap_cells"),
    N_("export.sheet.provenance"),
    N_("export.sheet.sites"),
    N_("export.sheet.sites_exact"),
    N_("export.sheet.sites_greedy"),
    N_("export.sheet.summary"),
    N_("export.summary.added"),
    N_("export.summary.asked"),
    N_("export.summary.bound"),
    N_("export.summary.covered_after"),
    N_("export.summary.covered_before"),
    N_("export.summary.gap"),
    N_("export.summary.greedy"),
    N_("export.summary.note"),
    N_("export.summary.residents"),
    N_("export.summary.runtime"),
    N_("export.summary.share_after"),
    N_("export.summary.share_before"),
    N_("export.summary.useful"),
    N_("export.city_total"),
)
# planners: the provenance rows of geo/planning/provenance.py (``f"prov.{item}"``, ``f"prov.method.{m}"``, ``f"prov.status.{s}"``, ``f"prov.weekday.{d}"`` also in geo/hours.py, ``template("prov.discretisation_note")``)
CODES_PROVENANCE = (
    N_("prov.cell"),
    N_("prov.discretisation"),
    N_("prov.discretisation_note"),
    N_("prov.exported"),
    N_("prov.method"),
    N_("prov.method.exact"),
    N_("prov.method.greedy"),
    N_("prov.population"),
    N_("prov.population_detail"),
    N_("prov.radius"),
    N_("prov.registry_updated"),
    N_("prov.registry_version"),
    N_("prov.stations"),
    N_("prov.status"),
    N_("prov.status.greedy"),
    N_("prov.status.not_solved"),
    N_("prov.status.optimal"),
    N_("prov.status.stopped"),
    N_("prov.status.time_limit"),
    N_("prov.weekday.0"),
    N_("prov.weekday.1"),
    N_("prov.weekday.2"),
    N_("prov.weekday.3"),
    N_("prov.weekday.4"),
    N_("prov.weekday.5"),
    N_("prov.weekday.6"),
)
# planners: chart words (``ChartWords[key]`` reads ``f"chart.{key}"``), the planner script's exact-solve message (``PLANNER_JS_KEYS``), the audit action and the 上图 field named at run time
CODES_PLANNERS_MISC = (
    N_("chart.fewer"),
    N_("planner.planning_exact"),
    N_("portal.action_registry_mismatch"),
    N_("field.listing"),
    N_("field.bbox"),  # a query parameter, named in the reader's language
    N_("field.candidates"),  # a query parameter, named in the reader's language
    N_("field.grid_m"),  # a query parameter, named in the reader's language
    N_("field.k"),  # a query parameter, named in the reader's language
    N_("field.method"),  # a query parameter, named in the reader's language
    N_("field.n_new"),  # a query parameter, named in the reader's language
    N_("field.q"),  # a query parameter, named in the reader's language
    N_("field.radius_m"),  # a query parameter, named in the reader's language
    N_("field.time_limit_s"),  # a query parameter, named in the reader's language
    N_("field.zoom"),  # a query parameter, named in the reader's language
)
# reports: the words of the report vocabularies (``_terms(area, *codes)`` in geo/reports/model.py reads ``f"report.{area}.{code}"``)
CODES_REPORT_TERMS = (
    N_("report.category.closed"),
    N_("report.category.facility_broken"),
    N_("report.category.hours_wrong"),
    N_("report.category.not_here"),
    N_("report.category.other"),
    N_("report.outcome.dismissed"),
    N_("report.outcome.facility_removed"),
    N_("report.outcome.fixed"),
    N_("report.outcome.hours_fixed"),
    N_("report.outcome.moved"),
    N_("report.outcome.retired"),
    N_("report.status.confirmed"),
    N_("report.status.dismissed"),
    N_("report.status.open"),
)
