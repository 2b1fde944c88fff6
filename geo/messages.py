"""Messages a person reads (upload reports, edit-form errors), in Chinese and English.

A message is a ``Text``: a stable key into ``CATALOGUE`` plus its parameters. It renders
in either language (``text.render("zh")``); ``str(text)`` is the English, which is what
the command line, logs and exception messages keep showing. Parameters that are words
themselves (field names, coordinate systems, places such as "row 3") are ``Label``s,
``Text``s or ``schema.Term``s and are rendered in the same language as the message.

No Flask here: the web layer picks the language and calls ``render``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LANGS = ("zh", "en")

# key -> (Chinese, English). Placeholders use str.format names; both languages use the same names.
CATALOGUE: dict[str, tuple[str, str]] = {
    # -- how problems are put together -------------------------------------------------
    "line": ("{where}：{message}", "{where}: {message}"),
    "line_hint": ("{where}：{message}（{hint}）", "{where}: {message} ({hint})"),
    "station_ref": ("{name}（{id}）", "{name} ({id})"),
    "hint.one_of": ("可选：{choices}", "one of {choices}"),
    "hint.example": ("例如 {example}", "e.g. {example}"),
    "hint.did_you_mean": ("是否应为“{name}”？", "did you mean {name!r}?"),
    "hint.allowed": ("可用字段：{names}", "allowed: {names}"),
    # -- places: where a problem is ------------------------------------------------------
    "place.file": ("文件", "file"),
    "place.row": ("第 {row} 行", "row {row}"),
    "place.column": ("{column}列", "column {column}"),
    "place.row_column": ("第 {row} 行，{column}列", "row {row}, column {column}"),
    "place.row_field": ("第 {row} 行，{field}", "row {row}, {field}"),
    "place.feature": ("第 {n} 个要素", "features[{n}]"),
    "place.feature_id": ("第 {n} 个要素（{id}）", "features[{n}] ({id})"),
    "place.part": ("{base}，{part}", "{base}.{part}"),
    "place.body": ("请求内容", "body"),
    "place.rows": ("行号", "rows"),
    "place.features": ("“features”列表", "features"),
    "place.properties": ("属性", "properties"),
    "place.geometry": ("几何图形", "geometry"),
    "place.geometry_type": ("几何类型", "geometry.type"),
    # -- field names (Chinese: the column headers of the upload template) ----------------
    "field.id": ("编号", "id"),
    "field.kind": ("类型", "kind"),
    "field.name": ("名称", "name"),
    "field.address": ("地址", "address"),
    "field.district_adcode": ("区县代码", "district_adcode"),
    "field.district": ("区县", "district"),
    "field.operator": ("主办单位", "operator"),
    "field.phone": ("联系电话", "phone"),
    "field.opening_hours": ("开放时间", "opening_hours"),
    "field.amenities": ("服务设施", "amenities"),
    "field.honours": ("荣誉", "honours"),
    "field.status": ("状态", "status"),
    "field.created_at": ("创建时间", "created_at"),
    "field.updated_at": ("更新时间", "updated_at"),
    "field.source": ("来源", "source"),
    "field.lon": ("经度", "lon"),
    "field.lat": ("纬度", "lat"),
    "field.coordinates": ("坐标", "coordinates"),
    "field.crs": ("坐标系", "crs"),
    "field.file": ("文件", "file"),
    "field.actor": ("操作账号", "actor"),
    "field.action": ("操作", "action"),
    "field.station_id": ("站点编号", "station_id"),
    "field.since": ("起始日期", "since"),
    "field.until": ("截止日期", "until"),
    # -- JSON value types ------------------------------------------------------------------
    "type.str": ("文本", "str"),
    "type.int": ("数字", "int"),
    "type.float": ("数字", "float"),
    "type.bool": ("布尔值", "bool"),
    "type.list": ("列表", "list"),
    "type.dict": ("对象", "dict"),
    "type.NoneType": ("空值", "NoneType"),
    # -- strict JSON ---------------------------------------------------------------------
    "json.empty": ("文件是空的", "the file is empty"),
    "json.not_utf8": ("不是 UTF-8 编码的文本（第 {byte} 字节）", "not UTF-8 text (byte {byte})"),
    "json.save_utf8": ("请将文件另存为 UTF-8 编码的 GeoJSON", "save the file as UTF-8 GeoJSON"),
    "json.invalid": ("不是有效的 JSON：第 {line} 行第 {column} 列{detail}",
                     "not valid JSON: {detail} at line {line}, column {column}"),
    "json.why.value": ("缺少值", "Expecting value"),
    "json.why.comma": ("缺少逗号", "Expecting ',' delimiter"),
    "json.why.colon": ("缺少冒号", "Expecting ':' delimiter"),
    "json.why.name": ("属性名须用双引号括起", "Expecting property name enclosed in double quotes"),
    "json.why.extra": ("之后还有多余内容", "Extra data"),
    "json.why.string": ("字符串没有结束", "Unterminated string starting at"),
    "json.why.control": ("含有无效的控制字符", "Invalid control character at"),
    "json.too_deep": ("JSON 嵌套层数过多", "JSON nested too deeply"),
    "json.too_large_number": ("数字 {number} 太大", "{number} is too large a number"),
    "json.constant": ("JSON 中不能出现 {name}，请填写有限的数字", "{name} is not allowed in JSON; use a finite number"),
    "json.duplicate_key": ("同一对象中键“{key}”重复", "duplicate key {key!r} in one object"),
    "text.lone_surrogate": ("文本含有无效字符（孤立的代理字符）", "text contains an invalid character (lone surrogate)"),
    # -- GeoJSON structure ---------------------------------------------------------------
    "geo.missing_object": ("缺失，或不是对象", "missing or not an object"),
    "geo.point_required": ("必须是点（Point）", "a Point geometry is required"),
    "geo.not_point": ("几何类型是 {type}，应为 Point", "is {type!r}, expected 'Point'"),
    "geo.pair": ("应为 [经度, 纬度]", "must be [longitude, latitude]"),
    "geo.numbers": ("必须是数字", "must be numbers"),
    "geo.finite": ("必须是有限的数字", "must be finite numbers"),
    "geo.out_of_range": ("[{lon}, {lat}] 超出经纬度范围", "[{lon}, {lat}] is out of range"),
    "geo.lon_first": ("GeoJSON 中经度在前、纬度在后", "longitude comes first in GeoJSON"),
    "geo.lon_first_short": ("经度在前、纬度在后", "longitude comes first"),
    "geo.not_collection": ("应为 GeoJSON FeatureCollection，实际是 {got}", "expected a GeoJSON FeatureCollection, got {got!r}"),
    "geo.crs_member": ("RFC 7946 GeoJSON 没有“crs”成员，坐标必须是 WGS-84 经纬度",
                       "RFC 7946 GeoJSON has no 'crs' member; coordinates must be WGS-84 lon/lat"),
    "geo.crs_member_hint": ("请删除“crs”并转换为 WGS-84", "remove 'crs' and convert to WGS-84"),
    "geo.features_list": ("必须是 Feature 对象的列表", "must be a list of Feature objects"),
    "geo.not_feature": ("不是 GeoJSON Feature", "is not a GeoJSON Feature"),
    "geo.feature_type_hint": ('每一项都需要 "type": "Feature"', 'each item needs "type": "Feature"'),
    "geo.duplicate_id": ("编号重复（与{other}相同）", "duplicate id (also {other})"),
    "geo.nested": ("是嵌套的 {type}", "is a nested {type}"),
    "geo.nested_hint": ("请把每个站点作为一个 Point 要素直接放在顶层“features”列表中",
                        "put every station directly in the top-level 'features' list, one Point Feature each"),
    "geo.not_single_point": ("几何类型是 {type}，一个站点只能是一个点（Point）", "geometry is a {type}; a station is a single Point"),
    "geo.own_point_hint": ("请为每个站点单独建一个 Point 要素", "give each station its own Point feature"),
    "geo.no_properties": ("缺少 properties，或不是对象", "properties missing or not an object"),
    "geo.properties_required": ("必须提供站点属性", "station properties are required"),
    "geo.features_not_list": ("“features”必须是 Feature 对象的列表", "'features' must be a list of Feature objects"),
    "geo.no_features": ("FeatureCollection 中没有任何要素", "the FeatureCollection has no features"),
    "geo.too_many_features": ("要素过多：共 {n:,} 个，一次最多上传 {max_rows:,} 个站点",
                              "too many features: {n:,}; at most {max_rows:,} stations in one upload"),
    "geo.split_features": ("请拆分成每个不超过 {max_rows:,} 个要素的文件", "split the file into parts of at most {max_rows:,} features"),
    "geo.bad_crs": ("文件声明的坐标系不受支持：{crs}", "the file declares a coordinate system we do not accept: {crs}"),
    "geo.bad_crs_hint": ("坐标须为 WGS-84、GCJ-02 或 BD-09 的经纬度；请删除“crs”，上传时再选择坐标系",
                         "coordinates must be longitude/latitude in WGS-84, GCJ-02 or BD-09; remove 'crs' and "
                         "choose the system when uploading"),
    "geo.not_geojson": ("不是有效的 GeoJSON：{detail}", "not valid GeoJSON: {detail}"),
    # -- station properties ----------------------------------------------------------------
    "prop.unknown": ("不是站点字段", "unknown property"),
    "prop.required": ("必须填写", "is required"),
    "prop.not_list": ("应为列表，实际是{got}", "must be a list, got {got}"),
    "prop.not_text": ("应为文本，实际是{got}", "must be text, got {got}"),
    "prop.too_long": ("有 {n} 个字符，最多 {max} 个", "is {n} characters long; at most {max} allowed"),
    "prop.control": ("含有控制字符", "contains control characters"),
    "prop.empty": ("未填写", "is empty"),
    "prop.unknown_kind": ("类型“{value}”无法识别", "unknown kind {value!r}"),
    "prop.unknown_status": ("状态“{value}”无法识别", "unknown status {value!r}"),
    "prop.unknown_source": ("来源“{value}”无法识别", "unknown source {value!r}"),
    "prop.unknown_amenity": ("服务设施“{value}”无法识别", "unknown amenity {value!r}"),
    "prop.unknown_honour": ("荣誉“{value}”无法识别", "unknown honour {value!r}"),
    "prop.repeated_code": ("有重复的项", "lists the same code twice"),
    "prop.hours": ("开放时间格式无法识别（{reason}）", "not valid opening_hours syntax: {reason}"),
    "prop.hours_at": ("第 {position} 个字符处有误", "at character {position}"),
    "prop.hours_hint": ("例如 24/7 或 Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00",
                        "e.g. 24/7 or Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00"),
    "prop.date": ("“{value}”不是 ISO 8601 日期时间", "{value!r} is not an ISO 8601 date-time"),
    "prop.phone": ("“{value}”不是电话号码", "{value!r} is not a phone number"),
    "prop.phone_hint": ("只能填数字、空格和 + - ( )，例如 023-63891234", "digits, spaces, + - ( ) only, e.g. 023-63891234"),
    "prop.adcode": ("“{value}”不是重庆市 38 个区县的代码", "{value!r} is not one of Chongqing's 38 district codes"),
    "prop.district_mismatch": ("“{name}”与区县代码 {code}（{expected}）不符", "{name!r} does not match code {code} ({expected})"),
    "prop.id": ("“{value}”不是站点编号", "{value!r} is not a station id"),
    "prop.id_hint": ("格式为 区县代码-类型代码-序号，例如 500103-OS-0001", "district code-kind code-serial, e.g. 500103-OS-0001"),
    "prop.id_adcode": ("以 {prefix} 开头，但区县代码是 {adcode}", "starts with {prefix} but district_adcode is {adcode}"),
    "prop.id_kind": ("类型代码 {code} 与类型“{kind}”（{expected}）不符", "kind code {code} does not match kind {kind!r} ({expected})"),
    "loc.outside": ("[{lon}, {lat}] 不在重庆市范围内", "[{lon}, {lat}] is outside Chongqing"),
    "loc.swapped_hint": ("经纬度似乎填反了：GeoJSON 为 [经度, 纬度]",
                         "latitude and longitude look swapped: GeoJSON is [longitude, latitude]"),
    "loc.check": ("请核对坐标", "check the coordinates"),
    "loc.other_district": ("位于{found_name}（{found}），不在{name}（{adcode}）", "lies in {found_name} ({found}), not in {name} ({adcode})"),
    "loc.other_district_hint": ("请改正坐标或区县代码", "fix the coordinates or district_adcode"),
    # -- reading an upload file --------------------------------------------------------------
    "file.empty_hint": ("请上传站点清单，每个站点一行", "upload the station list with one row per station"),
    "file.too_large": ("文件有 {size:,} 字节，每次最多上传 {limit:,} 字节（{mb:g} MB）",
                       "the file is {size:,} bytes; at most {limit:,} bytes ({mb:g} MB) per upload"),
    "file.split": ("请拆分成几个较小的文件", "split it into smaller files"),
    "file.old_excel": ("这是旧版 Excel 97–2003（.xls）文件或设了密码的工作簿",
                       "this is an old Excel 97–2003 (.xls) or password-protected workbook"),
    "file.old_excel_hint": ("请在 Excel 中：文件 → 另存为 → Excel 工作簿（.xlsx）或 CSV UTF-8，不要设密码",
                            "in Excel: 文件 → 另存为 → Excel 工作簿 (.xlsx) or CSV UTF-8, without a password"),
    "file.xls": ("不支持旧版 Excel 97–2003 .xls 文件", "old Excel 97–2003 .xls files are not supported"),
    "file.xls_hint": ("请另存为 .xlsx 或 CSV UTF-8", "save it as .xlsx or CSV UTF-8"),
    "file.type": ("不支持的文件类型“{ext}”", "unsupported file type {ext!r}"),
    "file.no_extension": ("无扩展名", "(no extension)"),
    "file.type_hint": ("请上传 .csv、.xlsx 或 .geojson 文件（文件名须以其中之一结尾）",
                       "upload .csv, .xlsx or .geojson (the name must end in one of those)"),
    "file.xlsx_not_zip": ("不是有效的 .xlsx 工作簿（.xlsx 文件是 zip 压缩包，而此文件不是）",
                          "not a valid .xlsx workbook (an .xlsx file is a zip archive and this is not one)"),
    "file.xlsx_resave": ("请用 Excel 打开，重新另存为 Excel 工作簿（.xlsx）或 CSV UTF-8",
                         "open it in Excel and save it again as Excel 工作簿 (.xlsx), or as CSV UTF-8"),
    "file.zip_not_text": ("这像是 Excel 工作簿或 zip 压缩包，不是 {format} 文本",
                          "this looks like an Excel workbook or zip archive, not {format} text"),
    "file.rename_xlsx": ("如果是 Excel 工作簿，请把扩展名改为 .xlsx", "name it .xlsx if it is an Excel workbook"),
    "file.utf16_broken": ("UTF-16 文本已损坏", "broken UTF-16 text"),
    "file.save_csv_utf8": ("请在 Excel 中另存为 CSV UTF-8（逗号分隔）", "save it from Excel as CSV UTF-8 (逗号分隔)"),
    "file.utf16_no_bom": ("这像是没有字节顺序标记（BOM）的 UTF-16 文本", "this looks like UTF-16 text without a byte-order mark"),
    "file.save_csv_utf8_again": ("请在 Excel 中另存为 CSV UTF-8（逗号分隔）后重新上传",
                                 "save it from Excel as CSV UTF-8 (逗号分隔) and upload again"),
    "file.binary_nul": ("这是二进制文件，不是 CSV 文本（含有 NUL 字节）", "this is a binary file, not CSV text (it contains NUL bytes)"),
    "file.binary_controls": ("这像是二进制文件，不是 CSV 文本（含有大量控制字符）",
                             "this looks like a binary file, not CSV text (many control characters)"),
    "file.upload_types": ("请上传 .csv、.xlsx 或 .geojson 文件", "upload a .csv, .xlsx or .geojson file"),
    "file.encoding": ("文件既不是 UTF-8 也不是 GBK/GB18030 编码（第 {offset} 字节无法识别）",
                      "the file is neither UTF-8 nor GBK/GB18030 text (undecodable byte at offset {offset})"),
    "file.encoding_guess": ("文件既不是 UTF-8 也不是 GBK/GB18030 编码（第 {offset} 字节无法识别），看起来是 {guess}",
                            "the file is neither UTF-8 nor GBK/GB18030 text (undecodable byte at offset {offset}); "
                            "it looks like {guess}"),
    "file.encoding_hint": ("请在 Excel 中：文件 → 另存为 → CSV UTF-8（逗号分隔）(*.csv)",
                           "in Excel: 文件 → 另存为 → CSV UTF-8 (逗号分隔) (*.csv)"),
    "file.no_rows": ("文件中没有任何行", "the file has no rows"),
    "file.no_rows_hint": ("第一行须为列名，例如 名称、地址、经度、纬度", "the first row must name the columns, e.g. 名称, 地址, 经度, 纬度"),
    "file.no_header": ("找不到表头：前几行都没有写明所需的列名", "no header row found: none of the first rows names the columns we need"),
    "file.no_header_hint": ("表头须写明各列名称，例如 名称、类型、地址、主办单位、开放时间、服务设施、经度、纬度",
                            "the header must name the columns, e.g. 名称, 类型, 地址, 主办单位, 开放时间, 服务设施, 经度, 纬度"),
    "file.no_header_garbled_hint": ("表头须写明各列名称，例如 名称、类型、地址、主办单位、开放时间、服务设施、经度、纬度；"
                                    "如果表头显示为乱码，请将文件另存为 CSV UTF-8",
                                    "the header must name the columns, e.g. 名称, 类型, 地址, 主办单位, 开放时间, 服务设施, "
                                    "经度, 纬度; if the headers look garbled, save the file as CSV UTF-8"),
    "file.duplicate_column": ("“{first}”列和“{second}”列都对应{field}", "columns {first!r} and {second!r} both give {field}"),
    "file.keep_one": ("请只保留其中一列", "keep one of them"),
    "file.missing_columns": ("缺少以下列：{columns}", "missing column(s): {columns}"),
    "file.accepted_headers": ("可用的列名包括：名称、类型、地址、区县代码、主办单位、联系电话、开放时间、服务设施、荣誉、经度、纬度",
                              "accepted headers include 名称, 类型, 地址, 区县代码, 主办单位, 联系电话, 开放时间, 服务设施, 荣誉, 经度, 纬度"),
    "file.guesses_accepted": ("{guesses}可用的列名包括：名称、类型、地址、区县代码、主办单位、联系电话、开放时间、服务设施、荣誉、经度、纬度",
                              "did you mean {guesses} accepted headers include 名称, 类型, 地址, 区县代码, 主办单位, 联系电话, "
                              "开放时间, 服务设施, 荣誉, 经度, 纬度"),
    "file.header_guess": ("“{column}”是否应为“{header}”？", "{column!r} → {header}?"),
    "file.too_many_rows": ("行数过多：一次最多上传 {max_rows:,} 个站点", "too many rows: more than {max_rows:,} stations in one upload"),
    "file.split_rows": ("请拆分成每个不超过 {max_rows:,} 行的文件", "split the file into parts of at most {max_rows:,} rows"),
    "file.cell_too_long": ("有 {n:,} 个字符", "is {n:,} characters long"),
    "file.cell_too_long_hint": ("远远超过任何字段允许的长度", "far longer than any field allows"),
    "file.header_only": ("文件只有表头，没有站点", "the file has a header but no stations"),
    "file.header_only_hint": ("请在表头下每行填写一个站点", "add one row per station under the header"),
    "file.broken_csv": ("CSV 格式有误（{detail}）", "broken CSV: {detail}"),
    "file.csv_eof": ("引号没有闭合", "unexpected end of data"),
    "file.check_quotes": ("请检查这一行的引号", "check the quotes in this row"),
    "file.xlsx_damaged": ("不是有效的 .xlsx 工作簿（压缩包已损坏）", "not a valid .xlsx workbook (the zip archive is damaged)"),
    "file.xlsx_resave_short": ("请用 Excel 打开，重新另存为 .xlsx", "open it in Excel and save it again as .xlsx"),
    "file.xlsx_expands": ("工作簿解压后有 {size:,.0f} MB，最多 {limit:,.0f} MB", "the workbook expands to {size:,.0f} MB; at most {limit:,.0f} MB"),
    "file.xlsx_expands_hint": ("请删除其他工作表和图片，或改为上传 CSV", "remove other sheets and images, or upload CSV"),
    "file.xlsx_unreadable": ("无法读取此 .xlsx 工作簿（{error}）", "not a readable .xlsx workbook ({error})"),
    "file.xlsx_resave_or_csv": ("请用 Excel 打开，重新另存为 .xlsx 或 CSV UTF-8", "open it in Excel and save it again as .xlsx, or as CSV UTF-8"),
    "file.no_sheet": ("工作簿中没有工作表", "the workbook has no worksheet"),
    "file.crs_unknown": ("未知的坐标系“{crs}”", "unknown coordinate system {crs!r}"),
    "file.crs_declared": ("文件注明坐标系为 {said}，但上传时选择的是 {chosen}",
                          "the file says its coordinates are {said} but the upload was marked {chosen}"),
    "file.crs_declared_hint": ("如确实如此，请重新上传并选择“{choice}”", "upload again choosing {choice} if that is right"),
    "value.not_number": ("不是数字", "is not a number"),
    "value.not_number_quoted": ("“{value}”不是数字", "{value!r} is not a number"),
    "value.not_finite": ("不是有限的数字", "is not a finite number"),
    "value.degrees_hint": ("请填写十进制度数，例如 106.5516 和 29.5630", "decimal degrees, e.g. 106.5516 and 29.5630"),
    # -- notes on how a file was read ----------------------------------------------------------
    "note.server_columns": ("已忽略 {columns} 列：编号、状态和日期由系统生成，上传只能新增站点",
                            "columns {columns} are ignored: the server assigns ids, status and dates; an upload adds new stations"),
    "note.server_properties": ("已忽略属性 {properties}：编号、状态和日期由系统生成，上传只能新增站点",
                               "properties {properties} are ignored: the server assigns ids, status and dates; "
                               "an upload adds new stations"),
    "note.ignored_columns": ("以下列不属于站点字段，已忽略：{columns}", "columns ignored (not part of the station schema): {columns}"),
    "note.no_kind": ("没有“类型”列：所有行都按“户外劳动者服务站”处理",
                     "no 类型 (kind) column: every row is taken as 户外劳动者服务站 (outdoor_station)"),
    "note.first_sheet": ("只读取了第一个工作表“{sheet}”，其余 {others} 个工作表已忽略",
                         "only the first sheet {sheet!r} was read; {others} other sheet(s) ignored"),
    "note.hours": ("{rows} 行的“{column}”已转换为 OpenStreetMap 格式，例如{label}：“{before}” → “{after}”",
                   "{column} was translated to OpenStreetMap syntax in {rows} row(s), e.g. {label}: {before!r} → {after!r}"),
    # -- upload rules ----------------------------------------------------------------------------
    "row.swapped_columns": ("{lon_col}填的是 {lon:g}，{lat_col}填的是 {lat:g}，经纬度似乎填反了；互换后该点位于{district}",
                            "{lon_col} is {lon:g} and {lat_col} is {lat:g}: longitude and latitude look swapped; "
                            "swapped, the point lies in {district}"),
    "row.swapped_geojson": ("坐标 [{lon:g}, {lat:g}] 的经纬度似乎填反了；互换后该点位于{district}",
                            "coordinates [{lon:g}, {lat:g}]: longitude and latitude look swapped; swapped, the point lies in {district}"),
    "row.swap_columns_hint": ("请互换{lon_col}和{lat_col}两列的值（重庆的{lon_col}约为 105–110，{lat_col}约为 28–32）",
                              "swap the {lon_col} and {lat_col} values (in Chongqing {lon_col} is about 105–110 and "
                              "{lat_col} about 28–32)"),
    "row.swap_geojson_hint": ("GeoJSON 坐标顺序为 [经度, 纬度]", "GeoJSON coordinates are [longitude, latitude]"),
    "row.not_lonlat": ("[{lon:g}, {lat:g}] 不是有效的经纬度", "[{lon:g}, {lat:g}] is not a longitude/latitude pair"),
    "row.not_lonlat_hint": ("请填写十进制度数，经度在前，例如 106.5516, 29.5630", "decimal degrees, longitude first, e.g. 106.5516, 29.5630"),
    "row.outside": ("[{lon:g}, {lat:g}]（{crs}）不在重庆市范围内", "[{lon:g}, {lat:g}] ({crs}) is outside Chongqing"),
    "row.outside_hint": ("请核对坐标和上传时选择的坐标系", "check the coordinates and the coordinate system chosen for the upload"),
    "row.formula": ("“{value}”像是电子表格公式：入库后只会保存这段文字，不会计算",
                    "{value!r} looks like a spreadsheet formula; it would be stored as text, not calculated"),
    "row.formula_hint": ("请直接填写内容本身", "type the value itself"),
    "row.other_district_code": ("该站点属于{name}（{adcode}），本账号只能添加{own_name}（{own}）的站点",
                                "this station is for {name} ({adcode}); your account adds stations in {own_name} ({own}) only"),
    "row.other_district_code_hint": ("请删除这一行，或请该区县工会上传", "remove the row, or ask that district's union office to upload it"),
    "row.honours_admin_only": ("荣誉称号由市总工会管理员登记，区县上传不能填写",
                               "honours are recorded by the municipal union's administrators, not by district uploads"),
    "row.honours_admin_only_hint": ("请清空此列；获评荣誉的站点请联系市总工会登记",
                                    "leave this column empty; ask the municipal union to record the honour"),
    "row.outside_own": ("该点位于{name}（{adcode}），不在本区县{own_name}（{own}）范围内",
                        "the point lies in {name} ({adcode}), outside your district {own_name} ({own})"),
    "row.check_point": ("请核对坐标和坐标系", "check the coordinates and the coordinate system"),
    "row.district_mismatch": ("该点位于{name}（{adcode}），不在{other_name}（{other}）",
                              "the point lies in {name} ({adcode}), not in {other_name} ({other})"),
    "row.district_mismatch_hint": ("请改正坐标或区县", "fix the coordinates or the district"),
    "row.repeated": ("与{label}完全相同", "repeats {label} exactly"),
    "row.delete_one": ("请删除其中一行", "delete one of the two rows"),
    "dup.existing": ("与已有的同类站点{station}相距 {dist:.0f} 米", "{dist:.0f} m from {station}, an existing station of the same kind"),
    "dup.existing_same_name": ("与已有的同类同名站点{station}相距 {dist:.0f} 米",
                               "{dist:.0f} m from {station}, an existing station of the same kind and the same name"),
    "dup.retired": ("与已撤销的同类站点{station}相距 {dist:.0f} 米", "{dist:.0f} m from {station}, a retired station of the same kind"),
    "dup.retired_same_name": ("与已撤销的同类同名站点{station}相距 {dist:.0f} 米",
                              "{dist:.0f} m from {station}, a retired station of the same kind and the same name"),
    "dup.existing_hint": ("如果是同一个站点，请跳过这一行，改为修改原站点；如果是附近的另一个站点，请确认入库",
                          "if it is the same station, drop this row (edit the station instead); if it is a different "
                          "station nearby, confirm it"),
    "dup.retired_hint": ("如果是已撤销的站点重新开放，请跳过这一行，并请管理员恢复该站点",
                         "if it is a retired station reopening, drop this row and ask an administrator to restore it"),
    "dup.same_name": ("本区县已有同名站点{station}", "{station} in the registry has the same name in the same district"),
    "dup.same_name_hint": ("如果就是该站点，请跳过这一行；如果是另一个站点，请确认入库",
                           "drop this row if it is that station; confirm if it is another one"),
    "dup.in_file": ("与本文件{label}的同类站点相距 {dist:.0f} 米", "{dist:.0f} m from {label} of this file, of the same kind"),
    "dup.in_file_same_name": ("与本文件{label}同名", "has the same name as {label} of this file"),
    "dup.in_file_hint": ("如果是同一个站点，请跳过其中一行", "drop one of the two rows if they are the same station"),
    "crs.row": ("如果按 {alt} 而不是 {crs} 读取，该点距{station}只有 {dist:.0f} 米；按上传时的坐标系则相距 {shift:,.0f} 米",
                "read as {alt} instead of {crs}, this point would sit {dist:.0f} m from {station}; as uploaded it is "
                "{shift:,.0f} m away from it"),
    "crs.row_hint": ("如果坐标取自{source}，请重新上传并选择“{choice}”；如果这一行就是该站点，请跳过",
                     "if the coordinates come from {source}, upload again choosing {choice}; if this row is that station, drop it"),
    "crs.file": ("共 {rows} 行中有 {n} 行按 {alts} 读取时与已有站点重合，文件坐标很可能不是 {crs}",
                 "{n} of {rows} rows sit on existing stations when read as {alts}: the file is probably not in {crs}"),
    "crs.file_hint": ("请重新上传并选择“{choice}”", "upload again choosing {choice}"),
    "crs.source.wgs84": ("GPS 设备、浏览器定位或天地图", "a GPS device, a browser or Tianditu"),
    "crs.source.gcj02": ("高德、腾讯或微信", "Amap, Tencent or WeChat"),
    "crs.source.bd09": ("百度地图", "Baidu Maps"),
    "commit.no_such_rows": ("上传文件中没有这些行：{rows}", "no such row(s) in the upload: {rows}"),
    "commit.all_dropped": ("所有行都已跳过，没有可入库的站点", "every row was dropped; nothing to add"),
    # -- station edits (portal form and PATCH) -----------------------------------------------------
    "edit.body_object": ("必须是一个 JSON 对象，列出要修改的属性", "must be a JSON object of the properties to change"),
    "edit.nothing": ("没有要修改的内容", "nothing to change"),
    "edit.send_properties": ("请发送要修改的属性，例如 {example}", "send the properties to change, e.g. {example}"),
    "edit.fixed": ("不能通过修改来更改", "cannot be changed by an edit"),
    "edit.fixed.id": ("站点编号不能更改", "a station keeps its id"),
    "edit.fixed.kind": ("类型是编号的一部分：请撤销该站点，再按新类型重新上传",
                        "the kind is part of the id: retire the station and upload it again as the new kind"),
    "edit.fixed.district": ("站点不能移到其他区县：请撤销该站点，由所在区县重新上传",
                            "a station cannot move to another district: retire it and let that district upload it"),
    "edit.fixed.status": ("撤销请用 DELETE /api/stations/<id>，恢复请用 POST …/restore",
                          "use DELETE /api/stations/<id> to retire and POST …/restore to restore"),
    "edit.fixed.server": ("由系统生成", "set by the server"),
    "edit.null": ("不能为 null", "cannot be null"),
    "edit.clear_phone": ('要清空电话号码请发送 ""', 'send "" to clear the phone number'),
    "edit.send_value": ("请发送新的值", "send the new value"),
    "edit.moved_outside": ("新位置 [{lon}, {lat}]（WGS-84）在重庆市以外，不在{name}（{adcode}）范围内",
                           "[{lon}, {lat}] (WGS-84) is outside Chongqing, not in {name} ({adcode})"),
    "edit.moved_elsewhere": ("新位置 [{lon}, {lat}]（WGS-84）位于{found_name}（{found}），不在{name}（{adcode}）范围内",
                             "[{lon}, {lat}] (WGS-84) is in {found_name} ({found}), not in {name} ({adcode})"),
    "edit.check_crs": ("请核对坐标和坐标系", "check the coordinates and the coordinate system (crs)"),
    "edit.crs_alone": ("只给了坐标系，没有经度和纬度", "given without lon and lat"),
    "edit.crs_alone_hint": ("移动站点时请同时填写经度、纬度和坐标系", "send lon, lat and crs together to move a station"),
    "edit.required_with": ("须与{other}一起填写", "is required with {other}"),
    "edit.not_degrees_type": ("须为度数（数字），实际是{got}", "must be a number of degrees, got {got}"),
    "edit.finite": ("须为有限的数字", "must be a finite number"),
    "edit.not_degrees": ("“{value}”不是有效的度数", "{value!r} is not a number of degrees"),
    "edit.honours": ("{actor}：只有管理员可以修改站点的荣誉称号", "{actor}: only an administrator can change a station's honours"),
    # -- audit filters ----------------------------------------------------------------------------
    "audit.too_long": ("超过 {n} 个字符", "is longer than {n} characters"),
    "audit.not_adcode": ("“{value}”不是区县代码", "{value!r} is not a district code"),
    "audit.unknown_action": ("操作“{value}”无法识别", "unknown action {value!r}"),
    "audit.not_date": ("“{value}”不是日期", "{value!r} is not a date"),
    "audit.date_hint": ("格式为 YYYY-MM-DD 或 2025-06-01T09:30:00+08:00", "YYYY-MM-DD or 2025-06-01T09:30:00+08:00"),
    # -- write API requests -------------------------------------------------------------------------
    "api.number_overflow": ("数字太大（超出浮点数范围）", "number is too large (it overflows to infinity)"),
    "api.finite_hint": ("请使用有限的数字", "use a finite number"),
    "api.not_row_number": ("“{value}”不是行号", "{value!r} is not a row number"),
    "api.not_flag": ("“{value}”不是 1 或 0", "{value!r} is not 1 or 0"),
    "api.no_file": ("没有上传文件", "no file uploaded"),
    "api.no_file_hint": ("请选择要上传的站点清单文件（multipart 字段“file”）", "send the station list as multipart field 'file'"),
    "api.no_crs": ("请说明文件使用的坐标系", "say which coordinate system the file uses"),
    "api.crs_choices": ("wgs84（GPS、天地图）、gcj02（高德、腾讯、微信）或 bd09（百度）",
                        "wgs84 (GPS, Tianditu), gcj02 (Amap, Tencent, WeChat) or bd09 (Baidu)"),
    "api.split_body": ("请拆分成几个较小的文件", "split the file into smaller ones"),
    "api.not_format": ("“{value}”不是 json 或 csv", "{value!r} is not json or csv"),
    "api.not_whole_number": ("“{value}”不是 {low} 到 {high} 之间的整数", "{value!r} is not a whole number from {low} to {high}"),
    # -- rights and registry state ------------------------------------------------------------------
    "perm.planner": ("{actor}：规划人员账号只能查看，不能修改站点", "{actor}: planner accounts can read but not change stations"),
    "perm.restore": ("{actor}：只有管理员可以恢复已撤销的站点", "{actor}: only an administrator can restore a retired station"),
    "perm.district": ("{actor}：{own} 区县账号不能修改 {adcode} 区县的站点",
                      "{actor}: the {own} district account cannot change stations of district {adcode}"),
    "perm.other_actor": ("{actor}：这次上传是为 {checked} 检查的，请重新检查", "{actor}: this upload was checked for {checked}; check it again"),
    "registry.already": ("该站点已经是“{status}”状态", "is already {status}"),
    "registry.nothing_to_add": ("没有要添加的站点", "nothing to add"),
    "registry.not_found": ("没有编号为“{id}”的站点", "no station with id {id!r}"),
}


@dataclass(frozen=True)
class Label:
    """A word or phrase in both languages, used as a message parameter (either side may be a ``Text``)."""

    zh: object
    en: object

    def label(self, lang: str = "en") -> str:
        return localise(self.en if lang == "en" else self.zh, lang)

    def __str__(self) -> str:
        return self.label("en")


@dataclass(frozen=True)
class Join:
    """A list parameter, joined the way each language lists things."""

    items: tuple
    zh: str = "、"
    en: str = ", "

    def label(self, lang: str = "en") -> str:
        return (self.en if lang == "en" else self.zh).join(localise(item, lang) for item in self.items)


@dataclass(frozen=True, init=False)
class Text:
    """One message: a ``CATALOGUE`` key and its parameters. ``str()`` is the English."""

    key: str
    params: tuple[tuple[str, object], ...]

    def __init__(self, key: str, /, **params):
        if key not in CATALOGUE:
            raise KeyError(f"no message {key!r} in the catalogue")
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "params", tuple((k, _frozen(v)) for k, v in params.items()))

    def render(self, lang: str = "en") -> str:
        zh, en = CATALOGUE[self.key]
        values = {name: localise(value, lang) for name, value in self.params}
        return (en if lang == "en" else zh).format(**values)

    def __str__(self) -> str:
        return self.render("en")


def _frozen(value):
    return Join(tuple(value)) if isinstance(value, list) else value


def localise(value, lang: str = "en"):
    """``value`` for a message in ``lang``: Texts rendered, Labels and ``schema.Term``s labelled, lists joined,
    anything else (numbers, the user's own text) unchanged."""
    if isinstance(value, (Text, Label, Join)):
        return value.render(lang) if isinstance(value, Text) else value.label(lang)
    if isinstance(value, tuple):
        return Join(value).label(lang)
    label = getattr(value, "label", None)
    if callable(label) and hasattr(value, "zh") and hasattr(value, "en"):  # geo.schema.Term
        return label(lang)
    return value


def keep_texts(obj, *names: str, clip=str) -> None:
    """For a frozen dataclass's ``__post_init__``: each of the fields ``names`` may be given as a ``Text``;
    keep what was given as ``<name>_text`` and its English (through ``clip``) in the field itself."""
    for name in names:
        value = getattr(obj, name)
        object.__setattr__(obj, f"{name}_text", value)
        object.__setattr__(obj, name, clip(str(value)))


def message_of(exc: BaseException):
    """The message an exception was raised with: its ``Text`` if it carries one, else its English text."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, Text) else str(exc)


def shown(value, limit: int = 40) -> str:
    """A user's value as text for a message (quote it in the template), cut short so a huge input is never echoed."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def field_label(name) -> Text | str:
    """A field's name: the upload template's Chinese column header, or the schema name in English."""
    key = f"field.{name}"
    return Text(key) if key in CATALOGUE else name


def type_label(value) -> Text | str:
    """The JSON type of a value, for "must be text, got int" (English keeps Python's type name)."""
    name = type(value).__name__
    return Text(f"type.{name}") if f"type.{name}" in CATALOGUE else name


def crs_short(code: str, en: str | None = None) -> Label:
    """A coordinate system by its short name in Chinese (``WGS-84``) and by ``en`` (default: its code) in English."""
    from geo import schema

    term = schema.INPUT_CRS.get(code)
    return Label(zh=term.en.split(" (")[0] if term else code, en=code if en is None else en)


def crs_choice(code: str, en: str | None = None) -> Label:
    """A coordinate system as the upload form offers it (Chinese: its label in the list), ``en`` (default: its code) in English."""
    from geo import schema

    return Label(zh=schema.INPUT_CRS[code].zh, en=code if en is None else en)


_ROW = re.compile(r"row (\d+)(?:, column (.+)|, (.+))?")
_FEATURE = re.compile(r"features\[(\d+)\](?: \(([^()]*)\))?(?:\.(.+))?")
_GEOMETRY_PARTS = {"geometry": "place.geometry", "geometry.type": "place.geometry_type", "geometry.coordinates": "field.coordinates",
                   "properties": "place.properties"}
_PLAIN_PLACES = {"file": "place.file", "body": "place.body", "rows": "place.rows", "features": "place.features"}


def place(where: str) -> Label | str:
    """Where a problem is, in both languages: ``row 3, column 经度`` is 第 3 行，经度列 in Chinese.

    The English is ``where`` exactly as the code wrote it; the Chinese is parsed from it.
    """
    if not isinstance(where, str) or not where:
        return where
    zh = _zh_place(where)
    return where if zh is None else Label(zh=zh, en=where)


def _zh_place(where: str) -> str | None:
    match = _ROW.fullmatch(where)
    if match:
        row, column, fld = match.groups()
        if column:
            return Text("place.row_column", row=row, column=column).render("zh")
        if fld:
            return Text("place.row_field", row=row, field=_zh_part(fld)).render("zh")
        return Text("place.row", row=row).render("zh")
    match = _FEATURE.fullmatch(where)
    if match:
        index, fid, rest = match.groups()
        n = str(int(index) + 1)
        base = Text("place.feature_id", n=n, id=fid) if fid else Text("place.feature", n=n)
        if rest is None:
            return base.render("zh")
        return Text("place.part", base=base, part=_zh_part(rest)).render("zh")
    if where.startswith("column "):
        return Text("place.column", column=where.removeprefix("column ")).render("zh")
    if ", " in where and all(f"field.{part}" in CATALOGUE for part in where.split(", ")):  # "lon, lat"
        return Join(tuple(Text(f"field.{part}") for part in where.split(", "))).label("zh")
    if where in _PLAIN_PLACES:
        return Text(_PLAIN_PLACES[where]).render("zh")
    if f"field.{where}" in CATALOGUE:
        return Text(f"field.{where}").render("zh")
    return None


def _zh_part(part: str) -> str:
    """``properties.name`` -> 名称, ``geometry.coordinates`` -> 坐标, anything unknown as written."""
    if part in _GEOMETRY_PARTS:
        return Text(_GEOMETRY_PARTS[part]).render("zh")
    name = part.removeprefix("properties.")
    return localise(field_label(name), "zh")
