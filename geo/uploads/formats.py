"""Reading a district's upload file — CSV, XLSX or GeoJSON — into rows of cells, whatever its encoding and headers.

District offices upload the spreadsheet they already keep: Excel in China saves CSV in
GBK (GB18030) unless told otherwise, headers are Chinese, a title row often sits above
the header, and services are listed as "休息、饮水、充电". This module turns such a file
into ``RawRow`` objects (row number as the user sees it, cells by schema field) and
normalises cell values to schema codes. It knows nothing about the registry or rules;
``geo.uploads.pipeline`` does.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field

from geo import schema
from geo.errors import Problem, ValidationError
from geo.messages import Join, Label, Place, Text, field_label, place
from geo.registry.validate import check_point, parse_json_strict, type_member

# -- Upload limits: the one place they are set (the README's "Upload limits" table lists them) --
# Every limit is checked before the file is parsed, from sizes and counts that cost a fraction
# of parsing, so a small file that expands into a huge one is refused in milliseconds with
# bounded memory, and the message names the limit.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_ROWS = 5_000
MAX_COLUMNS = 100
# Any real cell is far shorter (the longest schema field is 255 characters).
MAX_CELL_CHARS = 5_000
# An .xlsx is a zip: refuse one that would expand into a memory bomb.
MAX_XLSX_UNCOMPRESSED = 200 * 1024 * 1024
# openpyxl keeps every shared string in memory even in read-only mode (about 100 bytes each):
# 9 million one-letter strings in a 0.4 MB file took a worker to 1 GB for 80-110 s. 5,000 rows
# of 12 columns of distinct text are 60,000 strings and a few MB of XML.
MAX_XLSX_SHARED_STRINGS = 200_000
MAX_XLSX_SHARED_STRINGS_BYTES = 32_000_000
# Each worksheet's XML, and its <row> elements (declared in <dimension> and counted): a
# 1.75 M-row sheet took 22-34 s to walk even though only 5,000 rows may carry data.
MAX_XLSX_SHEET_BYTES = 64_000_000
HEADER_SEARCH_ROWS = 10
MAX_BLANK_RUN = 1_000
# Rows a sheet or CSV may hold in all: the data rows plus title, header and blank rows.
ROW_ALLOWANCE = HEADER_SEARCH_ROWS + MAX_BLANK_RUN

FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".geojson": "geojson", ".json": "geojson"}
# Properties the server sets: a file may carry them (an export re-uploaded), we ignore them.
SERVER_FIELDS = ("id", "status", "created_at", "updated_at", "source")
# Of those, ``id`` is read: a row naming an existing station updates it (geo.uploads.matching).
IGNORED_FIELDS = tuple(f for f in SERVER_FIELDS if f != "id")

# Header text (normalised by header_key) -> schema field, or "lon"/"lat".
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "名称", "站点名称", "驿站名称", "站名", "服务站名称", "阵地名称"),
    "kind": ("kind", "type", "类型", "站点类型", "阵地类型"),
    "address": ("address", "地址", "详细地址", "站点地址"),
    "district_adcode": ("district_adcode", "adcode", "区县代码", "行政区划代码", "区划代码"),
    "district": ("district", "区县", "所属区县", "区县名称"),
    "operator": ("operator", "主办单位", "运营单位", "建设单位", "依托单位"),
    "phone": ("phone", "电话", "联系电话", "联系方式"),
    "opening_hours": ("opening_hours", "开放时间", "服务时间"),
    "amenities": ("amenities", "服务设施", "服务项目", "服务功能", "配套设施"),
    "honours": ("honours", "honors", "荣誉", "荣誉称号"),
    "verified_at": ("verified_at", "核实日期", "上次核实", "核实时间", "最近核实"),
    "lon": ("lon", "lng", "long", "longitude", "经度"),
    "lat": ("lat", "latitude", "纬度"),
    **{name: (name,) for name in SERVER_FIELDS},
}
HEADER_FIELDS = {alias: name for name, aliases in FIELD_ALIASES.items() for alias in aliases}
HEADER_FIELDS["编号"] = "id"
REQUIRED_COLUMNS = ("name", "address", "operator", "opening_hours", "amenities", "lon", "lat")
# What a user would call each field, for messages about missing columns: 名称 (name) …
COLUMN_LABELS = {name: f"{field_label(name).render('zh')} ({name})" for name in (
    "name", "kind", "address", "operator", "opening_hours", "amenities", "lon", "lat", "district_adcode", "district",
    "phone", "honours")}
# A header note such as "经度（高德）" names a coordinate system.
CRS_HINTS = {"wgs84": ("wgs", "gps", "天地图", "cgcs"), "gcj02": ("gcj", "高德", "腾讯", "火星", "amap"),
             "bd09": ("bd09", "bd-09", "百度", "baidu")}

KIND_ALIASES = {"驿站": "outdoor_station", "服务站": "outdoor_station", "户外劳动者驿站": "outdoor_station",
                "工会户外劳动者服务站": "outdoor_station", "户外驿站": "outdoor_station", "书屋": "bookshelf",
                "托管班": "childcare", "爱心托管": "childcare"}
LIST_SEPARATORS = re.compile(r"[;；,，、|｜/\n]+")


@dataclass
class RawRow:
    """One station as read from the file, before any rule is applied.

    ``row`` is what the user sees: the spreadsheet row (header counted, 1-based) or the
    GeoJSON feature index. ``values`` maps schema fields to cell values (str, number,
    list …) and ``lonlat`` is the pair of numbers as written, in the upload's CRS.
    """

    row: int
    label: str
    values: dict = field(default_factory=dict)
    lonlat: tuple[float, float] | None = None
    problems: list[tuple[str | None, Text, Text | str]] = field(default_factory=list)  # (field, message, hint)


@dataclass
class RawUpload:
    format: str
    rows: list[RawRow]
    columns: dict[str, str] = field(default_factory=dict)  # field -> the header as written
    notes: list[Text] = field(default_factory=list)
    crs_hint: str | None = None  # a CRS named in a header or a GeoJSON "crs" member
    encoding: str | None = None


def file_error(message: Text | str, hint: Text | str = "", where: str = "file") -> ValidationError:
    return ValidationError(Problem(where, message, hint))


def detect_format(filename: str, raw: bytes) -> str:
    """``csv``, ``xlsx`` or ``geojson`` from the name, checked against the first bytes."""
    name = (filename or "").strip().lower()
    ext = name[name.rfind("."):] if "." in name else ""
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise file_error(Text("file.old_excel"), Text("file.old_excel_hint"))
    if ext == ".xls":
        raise file_error(Text("file.xls"), Text("file.xls_hint"))
    if ext not in FORMATS:
        raise file_error(Text("file.type", ext=ext or Text("file.no_extension")), Text("file.type_hint"))
    fmt = FORMATS[ext]
    if fmt == "xlsx" and not raw.startswith(b"PK\x03\x04"):
        raise file_error(Text("file.xlsx_not_zip"), Text("file.xlsx_resave"))
    if fmt != "xlsx" and raw.startswith(b"PK\x03\x04"):
        raise file_error(Text("file.zip_not_text", format=fmt.upper()), Text("file.rename_xlsx"))
    return fmt


# -- text decoding -------------------------------------------------------------------


def decode_text(raw: bytes) -> tuple[str, str]:
    """Decode CSV bytes: UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (what
    Excel in China writes). Returns (text, encoding); raises ``ValidationError``."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise file_error(Text("file.utf16_broken"), Text("file.save_csv_utf8")) from exc
    if b"\x00" in raw:
        head = raw[: 8192 - 8192 % 2]
        for encoding in ("utf-16-le", "utf-16-be"):
            try:
                text = head.decode(encoding)
            except UnicodeDecodeError:
                continue
            if _mostly_printable(text) and ("\n" in text or "," in text):
                raise file_error(Text("file.utf16_no_bom"), Text("file.save_csv_utf8_again"))
        raise file_error(Text("file.binary_nul"), Text("file.upload_types"))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return _check_text(text), encoding
    guess = _guess_encoding(raw)
    position = _first_bad_byte(raw)
    raise file_error(
        Text("file.encoding_guess", offset=position, guess=guess) if guess else Text("file.encoding", offset=position),
        Text("file.encoding_hint"),
    )


def _check_text(text: str) -> str:
    controls = sum(1 for ch in text[:20000] if unicodedata.category(ch) == "Cc" and ch not in "\t\r\n")
    if controls > max(3, len(text[:20000]) // 100):
        raise file_error(Text("file.binary_controls"), Text("file.upload_types"))
    return text


def _mostly_printable(text: str) -> bool:
    good = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n")
    return good >= 0.97 * len(text)


def _first_bad_byte(raw: bytes) -> int:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return 0


def _guess_encoding(raw: bytes) -> str | None:
    """charset-normalizer's best guess, only to word the error message."""
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(raw[:65536]).best()
    except Exception:  # noqa: BLE001 - a hint only; never let it mask the real error
        return None
    return best.encoding if best is not None else None


# -- headers -------------------------------------------------------------------------


def header_key(text) -> tuple[str, str]:
    """(lookup key, note in brackets) for a header cell: '经度（WGS84）*' -> ('经度', 'wgs84')."""
    text = unicodedata.normalize("NFKC", str(text if text is not None else "")).strip().lower()
    note = " ".join(re.findall(r"\(([^)]*)\)|\[([^\]]*)\]", text)[0]) if re.search(r"\(|\[", text) else ""
    key = re.sub(r"\([^)]*\)|\[[^\]]*\]", "", text)
    key = re.sub(r"[\s*:：]+", "", key)
    return key, note


def map_header(cells: list) -> dict[int, str]:
    """Column index -> field for the header cells we recognise."""
    found = {}
    for index, cell in enumerate(cells):
        key, _ = header_key(cell)
        if key in HEADER_FIELDS:
            found[index] = HEADER_FIELDS[key]
    return found


def _crs_named(note: str) -> str | None:
    for crs, words in CRS_HINTS.items():
        if any(w in note for w in words):
            return crs
    return None


def tabular_upload(fmt: str, rows_iter, max_rows: int, encoding: str | None = None) -> RawUpload:
    """Find the header among the first rows, map columns, and collect data rows (blank rows skipped)."""
    preamble = []
    header = None
    for number, cells in rows_iter:
        cells = list(cells)[:MAX_COLUMNS]
        if header is None:
            mapped = map_header(cells)
            if len(set(mapped.values())) >= 3:
                header = (number, cells, mapped)
                break
            preamble.append(cells)
            if len(preamble) >= HEADER_SEARCH_ROWS:
                break
    if header is None:
        if not preamble or all(_blank(c) for cells in preamble for c in cells):
            raise file_error(Text("file.no_rows"), Text("file.no_rows_hint"))
        raise file_error(
            Text("file.no_header"),
            Text("file.no_header_hint") if encoding in (None, "utf-8-sig", "utf-16") else Text("file.no_header_garbled_hint"),
            where=Place(row=1),
        )
    header_row, header_cells, mapped = header
    upload = RawUpload(format=fmt, rows=[], encoding=encoding)
    seen: dict[str, int] = {}
    problems = []
    for index, fld in mapped.items():
        text = str(header_cells[index]).strip()
        if fld in seen:
            problems.append(Problem(Place(row=header_row), Text("file.duplicate_column", first=upload.columns[fld],
                                                              second=text, field=field_label(fld)),
                                    Text("file.keep_one")))
            continue
        seen[fld] = index
        upload.columns[fld] = text
        if fld in ("lon", "lat"):
            named = _crs_named(header_key(header_cells[index])[1])
            if named:
                upload.crs_hint = named
    ignored = [str(c).strip() for i, c in enumerate(header_cells) if i not in mapped and not _blank(c)]
    missing = [f for f in REQUIRED_COLUMNS if f not in seen]
    if missing:
        import difflib

        close = {c: difflib.get_close_matches(header_key(c)[0], list(HEADER_FIELDS), n=1) for c in ignored}
        guesses = tuple(Text("file.header_guess", column=c, header=close[c][0]) for c in ignored if close[c])
        columns = Join(tuple(Label(zh=field_label(f), en=COLUMN_LABELS[f]) for f in missing))
        problems.append(Problem(
            Place(row=header_row), Text("file.missing_columns", columns=columns),
            Text("file.guesses_accepted", guesses=Join(guesses, zh="", en="; ")) if guesses else Text("file.accepted_headers"),
        ))
    if problems:
        raise ValidationError(problems)
    server = [str(header_cells[i]).strip() for i, f in mapped.items() if f in IGNORED_FIELDS]
    if server:
        upload.notes.append(Text("note.server_columns", columns=Join(tuple(server))))
    if ignored:
        upload.notes.append(Text("note.ignored_columns", columns=Join(tuple(ignored))))
    if "kind" not in seen:
        upload.notes.append(Text("note.no_kind"))
    blank_run = 0
    for number, cells in rows_iter:
        cells = list(cells)[:MAX_COLUMNS]
        if all(_blank(c) for c in cells):
            blank_run += 1
            if blank_run > MAX_BLANK_RUN:  # a formatted but empty sheet tail; nothing follows
                break
            continue
        blank_run = 0
        if len(upload.rows) >= max_rows:
            raise file_error(Text("file.too_many_rows", max_rows=max_rows), Text("file.split_rows", max_rows=max_rows))
        raw_row = RawRow(row=number, label=Place(row=number))
        for fld, index in seen.items():
            if fld in IGNORED_FIELDS:
                continue
            value = cells[index] if index < len(cells) else None
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                raw_row.problems.append((fld, Text("file.cell_too_long", n=len(value)), Text("file.cell_too_long_hint")))
                continue
            raw_row.values[fld] = value
        if "kind" not in seen:
            raw_row.values["kind"] = "outdoor_station"
        upload.rows.append(raw_row)
    if not upload.rows:
        raise file_error(Text("file.header_only"), Text("file.header_only_hint"))
    return upload


def _blank(cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def read_csv(raw: bytes, max_rows: int) -> RawUpload:
    text, encoding = decode_text(raw)
    # Lines before cells: a file of millions of empty lines is refused without walking them
    # (twice the rows, as a quoted cell may hold a line break).
    lines = text.count("\n")
    if lines > 2 * max_rows + ROW_ALLOWANCE:
        raise file_error(Text("file.too_many_lines", n=lines, limit=2 * max_rows + ROW_ALLOWANCE),
                         Text("file.split_rows", max_rows=max_rows))
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=lambda d: (first_line.count(d), d == ","))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def numbered():
        number = 0
        try:
            for number, cells in enumerate(reader, start=1):  # noqa: B007 - used in the error below
                yield number, cells
        except csv.Error as exc:
            detail = Text("file.csv_eof") if str(exc) == "unexpected end of data" else str(exc)
            raise file_error(Text("file.broken_csv", detail=detail), Text("file.check_quotes"), where=Place(row=number + 1)) from exc

    return tabular_upload("csv", numbered(), max_rows, encoding)


def read_xlsx(raw: bytes, max_rows: int) -> RawUpload:
    import openpyxl

    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        expanded = sum(info.file_size for info in archive.infolist())
        if expanded > MAX_XLSX_UNCOMPRESSED:
            raise file_error(Text("file.xlsx_expands", size=expanded / 1e6, limit=MAX_XLSX_UNCOMPRESSED / 1e6),
                             Text("file.xlsx_expands_hint"))
        check_xlsx_parts(archive, max_rows)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise file_error(Text("file.xlsx_damaged"), Text("file.xlsx_resave_short")) from exc
    try:
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a bad workbook
        raise file_error(Text("file.xlsx_unreadable", error=type(exc).__name__), Text("file.xlsx_resave_or_csv")) from exc
    try:
        if not book.worksheets:
            raise file_error(Text("file.no_sheet"))
        sheet = book.worksheets[0]
        rows = ((number, [_xlsx_cell(v) for v in cells])
                for number, cells in enumerate(sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS), start=1))
        upload = tabular_upload("xlsx", rows, max_rows)
        if len(book.worksheets) > 1:
            upload.notes.append(Text("note.first_sheet", sheet=sheet.title, others=len(book.worksheets) - 1))
        return upload
    finally:
        book.close()


_SHARED_STRING = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")
_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")
_DIMENSION = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?dimension\s+ref=\"[A-Z]{1,3}\d+:[A-Z]{1,3}(\d+)\"")
_COUNT_ATTRIBUTE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sst\b[^>]*?\buniqueCount=\"(\d+)\"")
_CHUNK = 1 << 20


def _count_in_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, pattern: re.Pattern, stop: int) -> tuple[int, bytes]:
    """Occurrences of ``pattern`` in a zip member, streamed a megabyte at a time (memory stays
    ~1 MB whatever the member expands to), stopping once more than ``stop`` are seen; also its first kilobyte."""
    count, tail, head = 0, b"", b""
    with archive.open(info) as member:
        while count <= stop:
            chunk = member.read(_CHUNK)
            if not chunk:
                break
            if len(head) < 1024:
                head += chunk[:1024 - len(head)]
            block = tail + chunk
            # A match may straddle two chunks: keep the last few bytes, and count only matches
            # that start before them (the rest are counted with the next chunk).
            keep = 32
            limit = max(0, len(block) - keep)
            count += sum(1 for m in pattern.finditer(block) if m.start() < limit)
            tail = block[limit:]
        else:
            return count, head
    count += sum(1 for _ in pattern.finditer(tail))
    return count, head


def check_xlsx_parts(archive: zipfile.ZipFile, max_rows: int) -> None:
    """Refuse a workbook whose shared strings or sheets would cost far more than an upload may,
    before openpyxl reads it: sizes from the zip directory (zipfile enforces them while reading),
    declared counts from the XML headers, and actual counts streamed with bounded memory."""
    max_sheet_rows = max_rows + ROW_ALLOWANCE
    for info in archive.infolist():
        name = info.filename.lower()
        if name.endswith("sharedstrings.xml"):
            _check_part(archive, info, MAX_XLSX_SHARED_STRINGS_BYTES, _SHARED_STRING, _COUNT_ATTRIBUTE, MAX_XLSX_SHARED_STRINGS,
                        lambda n: (Text("file.xlsx_too_many_strings", n=n, limit=MAX_XLSX_SHARED_STRINGS),
                                   Text("file.xlsx_limits_hint")))
        elif name.startswith("xl/worksheets/") and name.endswith(".xml"):
            _check_part(archive, info, MAX_XLSX_SHEET_BYTES, _ROW, _DIMENSION, max_sheet_rows,
                        lambda n: (Text("file.xlsx_too_many_rows", n=n, limit=max_sheet_rows, max_rows=max_rows),
                                   Text("file.split_rows", max_rows=max_rows)))


def _check_part(archive, info, max_bytes: int, item, declared_pattern, max_items: int, too_many) -> None:
    """One workbook part: its expanded size, then its items counted (streamed) or declared, whichever is more."""
    if info.file_size > max_bytes:
        raise file_error(Text("file.xlsx_part_too_big", part=info.filename, size=info.file_size / 1e6,
                              limit=max_bytes / 1e6), Text("file.xlsx_limits_hint"))
    count, head = _count_in_member(archive, info, item, max_items)
    declared = declared_pattern.search(head)
    count = max(count, int(declared[1]) if declared else 0)
    if count > max_items:
        raise file_error(*too_many(count))


def _xlsx_cell(value):
    """Cells as text or numbers; a formula is never evaluated (data_only gives Excel's cached result)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def read_geojson(raw: bytes, max_rows: int) -> RawUpload:
    """Features of a FeatureCollection (or one Feature) as rows; geometry problems recorded per row."""
    # Count features before building them: parsing costs ~10 times the file's size in memory.
    declared = raw.count(b'"Feature"')
    if declared > max_rows + 1:
        raise file_error(Text("geo.too_many_features", n=declared, max_rows=max_rows),
                         Text("geo.split_features", max_rows=max_rows), where="features")
    data = parse_json_strict(raw, "file")
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = {"type": "FeatureCollection", "features": [data]}
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise file_error(Text("geo.not_collection", got=type_member(data)))
    upload = RawUpload(format="geojson", rows=[])
    if "crs" in data:
        named = _crs_named(str(data["crs"]).lower())
        if named is None and not re.search(r"crs84|4326", str(data["crs"]).lower()):
            raise file_error(Text("geo.bad_crs", crs=str(data["crs"])[:120]), Text("geo.bad_crs_hint"), where="crs")
        upload.crs_hint = named
    features = data.get("features")
    if not isinstance(features, list):
        raise file_error(Text("geo.features_not_list"), where="features")
    if not features:
        raise file_error(Text("geo.no_features"), where="features")
    if len(features) > max_rows:
        raise file_error(Text("geo.too_many_features", n=len(features), max_rows=max_rows),
                         Text("geo.split_features", max_rows=max_rows), where="features")
    server_seen: set[str] = set()
    for index, feature in enumerate(features):
        row = RawRow(row=index, label=Place(feature=index))
        upload.rows.append(row)
        if isinstance(feature, dict) and feature.get("type") in ("FeatureCollection", "GeometryCollection"):
            row.problems.append((None, Text("geo.nested", type=feature["type"]), Text("geo.nested_hint")))
            continue
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            row.problems.append((None, Text("geo.not_feature"), Text("geo.feature_type_hint")))
            continue
        geometry = feature.get("geometry")
        if isinstance(geometry, dict) and geometry.get("type") in ("GeometryCollection", "MultiPoint", "LineString",
                                                                    "Polygon", "MultiLineString", "MultiPolygon"):
            row.problems.append(("coordinates", Text("geo.not_single_point", type=geometry["type"]),
                                 Text("geo.own_point_hint")))
        else:
            problems, lonlat = check_point(geometry, "")
            coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
            if problems and getattr(problems[0].message_text, "key", None) == "geo.out_of_range":
                # Keep the pair: geo.uploads.pipeline explains swapped longitude/latitude itself.
                problems, lonlat = [], (float(coords[0]), float(coords[1]))
            row.problems += [("coordinates", Text("line", where=place(p.where.lstrip(".")), message=p.message_text),
                              p.hint_text) for p in problems]
            row.lonlat = lonlat
        props = feature.get("properties")
        if not isinstance(props, dict):
            row.problems.append((None, Text("geo.no_properties"), Text("geo.properties_required")))
            continue
        for key, value in props.items():
            fld = HEADER_FIELDS.get(header_key(key)[0])
            if fld in IGNORED_FIELDS:
                server_seen.add(key)
                continue
            if fld is None or fld in ("lon", "lat"):
                row.values.setdefault(f"?{key}", value)  # reported as an unknown property
                continue
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                row.problems.append((fld, Text("file.cell_too_long", n=len(value)), Text("file.cell_too_long_hint")))
                continue
            row.values[fld] = value
    if server_seen:
        upload.notes.append(Text("note.server_properties", properties=Join(tuple(sorted(server_seen)))))
    return upload


# -- cell values ----------------------------------------------------------------------

NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
DMS = re.compile(
    r"^(?P<deg>\d{1,3}(?:\.\d+)?)\s*[°度]\s*(?:(?P<min>\d{1,2}(?:\.\d+)?)\s*['′分])?\s*"
    r"(?:(?P<sec>\d{1,2}(?:\.\d+)?)\s*(?:\"|″|′′|''|秒)?)?\s*(?P<hem>[NSEWnsew东西南北])?$"
)


def parse_degrees(value) -> float:
    """A coordinate cell as decimal degrees: 106.5516, '106.5516', '106.5516°E', '106°33′06″'.

    Raises ``ValueError`` with a short reason for anything else (including NaN and infinity).
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(Text("prop.empty") if value is None else Text("value.not_number"))
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip().replace("−", "-")
        if not text:
            raise ValueError(Text("prop.empty"))
        plain = re.sub(r"\s*°?\s*[NEne东北]$", "", text)
        if NUMBER.match(plain):
            number = float(plain)
        else:
            match = DMS.match(text)
            if not match:
                raise ValueError(Text("value.not_number_quoted", value=text[:40]))
            number = float(match["deg"]) + float(match["min"] or 0) / 60 + float(match["sec"] or 0) / 3600
            if match["hem"] and match["hem"].upper() in ("S", "W", "南", "西"):
                number = -number
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(Text("value.not_finite"))
    return number


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def _vocab_lookup(vocab) -> dict[str, str]:
    table = {}
    for code, term in vocab.items():
        for word in (code, term.zh, term.en):
            table[_fold(word)] = code
    return table


KIND_LOOKUP = _vocab_lookup(schema.KINDS) | {_fold(k): v for k, v in KIND_ALIASES.items()}
AMENITY_LOOKUP = _vocab_lookup(schema.AMENITIES)
HONOUR_LOOKUP = _vocab_lookup(schema.HONOURS)


def normalise_kind(value):
    """'户外劳动者服务站', 'Worker bookshelf', 'childcare' … -> the kind code; unknown text unchanged."""
    if not isinstance(value, str):
        return value
    return KIND_LOOKUP.get(_fold(value), value.strip())


def normalise_codes(value, lookup: dict[str, str]):
    """A list cell ('休息、饮水；充电' or a JSON list) -> list of codes, labels mapped, duplicates dropped.

    Unknown items are kept as written so validation can name them.
    """
    if value is None:
        return []
    if isinstance(value, str):
        items = [part for part in LIST_SEPARATORS.split(value) if part.strip()]
    elif isinstance(value, list):
        items = value
    else:
        return value
    codes = []
    for item in items:
        code = lookup.get(_fold(item), item.strip()) if isinstance(item, str) else item
        if code not in codes:
            codes.append(code)
    return codes


class ParsedUpload(list):
    """The uploaded stations as GeoJSON Features (WGS-84), plus what the file said about each row.

    It is a plain ``list`` of Features; the attributes keep the row numbers, the coordinates
    as written (in ``crs``), the column headers and per-row reading problems for ``check_upload``.
    """

    def __init__(self, features: list[dict], *, filename: str, format: str, crs: str, rows: list[RawRow],
                 columns: dict[str, str], notes: list[Text], encoding: str | None = None):
        super().__init__(features)
        self.filename, self.format, self.crs, self.encoding = filename, format, crs, encoding
        self.rows, self.columns, self.notes = rows, columns, notes
