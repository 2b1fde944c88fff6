"""UI strings of the district portal and sign-in pages, in Chinese and English (``pt(key)`` in templates).

Kept apart from ``webmap.core.i18n`` (the public pages' strings) so the portal can grow its
vocabulary without touching that module; the language itself comes from
``webmap.core.i18n.get_lang`` so both agree on every request.
"""

from __future__ import annotations

from flask import current_app, has_request_context, request

# key -> (Chinese, English). Placeholders use str.format names.
STRINGS: dict[str, tuple[str, str]] = {
    # Sign-in
    "login_title": ("登录", "Sign in"),
    "login_intro": ("各区县工会、规划人员和管理员登录后维护驿站数据。", "District union offices, planners and administrators sign in here to maintain the registry."),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "login_submit": ("登录", "Sign in"),
    "bad_credentials": ("用户名或密码不正确，或账号已停用。", "Wrong user name or password, or the account is disabled."),
    "throttled": ("登录失败次数过多，请一分钟后再试。", "Too many failed sign-ins; please wait a minute and try again."),
    "csrf_failed": ("页面已过期或来源不明，请返回、刷新页面后重试。", "The page expired or came from elsewhere; go back, reload it and try again."),
    "logout": ("退出登录", "Sign out"),
    "logout_confirm": ("确定退出登录吗？", "Sign out now?"),
    "signed_in_as": ("当前用户：{name}（{role}）", "Signed in as {name} ({role})"),
    "forbidden": ("当前账号无权进行此操作。", "This account may not do that."),
    "too_large": ("文件或请求超过 {mb} MB 上限。请拆分成几个文件分别上传。", "The file or request is larger than the {mb} MB limit. Split it into several files."),
    "role_district": ("区县工会", "district office"),
    "role_planner": ("规划人员（只读）", "planner (read-only)"),
    "role_admin": ("管理员", "administrator"),
    # Portal navigation
    "portal_nav": ("驿站管理", "Station portal"),
    "nav_upload": ("批量上传", "Upload"),
    "nav_stations": ("站点列表", "Stations"),
    "nav_audit": ("操作记录", "Audit log"),
    "read_only_notice": ("规划人员账号只能查看，不能修改数据。", "Planner accounts can view but not change anything."),
    # Upload
    "upload_title": ("批量上传站点", "Upload stations"),
    "upload_intro": (
        "上传本区县的台账（CSV、Excel .xlsx 或 GeoJSON）。先“检查”，系统会逐行列出问题；改好后重新检查，确认无误再“提交入库”。",
        "Upload your district's list (CSV, Excel .xlsx or GeoJSON). Check it first: every problem is listed by row. Fix, check again, then commit.",
    ),
    "upload_file": ("选择文件", "File"),
    "upload_crs": ("坐标来源（坐标系）", "Where the coordinates come from (CRS)"),
    "upload_crs_help": ("从高德、腾讯或微信取的点选 GCJ-02；从百度取的点选 BD-09；GPS 或天地图选 WGS-84。", "Amap, Tencent or WeChat: GCJ-02. Baidu: BD-09. GPS or Tianditu: WGS-84."),
    "upload_check": ("检查（不会入库）", "Check (nothing is saved)"),
    "upload_limits": ("最大 {mb} MB，最多 {rows} 行。", "At most {mb} MB and {rows} rows."),
    "report_title": ("检查结果：{filename}", "Check result: {filename}"),
    "report_summary": ("共 {rows} 行：{ready} 行可以入库，{problems} 个问题必须修改，{warnings} 条提醒需要确认。",
                       "{rows} rows: {ready} ready, {problems} problems to fix, {warnings} warnings to confirm."),
    "report_ok": ("没有必须修改的问题。", "No blocking problems."),
    "report_blocking": ("有必须修改的问题，修改文件后请重新检查。整批数据要么全部入库，要么都不入库。",
                        "There are problems to fix. Fix the file and check it again: a file is committed whole or not at all."),
    "col_row": ("行号", "Row"),
    "col_field": ("字段", "Field"),
    "col_problem": ("问题", "Problem"),
    "col_suggestion": ("修改建议", "Suggestion"),
    "warnings_title": ("需要确认的提醒", "Warnings to confirm"),
    "warning_keep": ("仍然入库", "Add anyway"),
    "warning_drop": ("不入库（跳过此行）", "Skip this row"),
    "preview_title": ("预览", "Preview"),
    "preview_help": ("地图上的圆点是本次文件中的站点（已转换为 WGS-84）：绿色可以入库，橙色需要确认，红色有问题。点击查看。",
                     "The dots are the stations in this file (converted to WGS-84): green ready, orange to confirm, red a problem. Tap one for details."),
    "commit": ("提交入库", "Commit"),
    "commit_done": ("已入库 {n} 个站点：{ids}", "{n} stations committed: {ids}"),
    "commit_changed": ("数据在检查之后有变化，已按最新数据重新检查，请查看结果后再提交。",
                       "The registry changed since the check; the file was checked again against it. Review and commit again."),
    "upload_expired": ("检查结果已过期或不存在，请重新上传文件。", "The check result expired or does not exist; upload the file again."),
    "upload_missing": ("请选择要上传的文件。", "Choose a file to upload."),
    "upload_bad_crs": ("请选择坐标系。", "Choose the coordinate system."),
    "unconfirmed": ("还有提醒没有选择“仍然入库”或“跳过”。", "Some warnings have neither 'add anyway' nor 'skip' chosen."),
    "nothing_to_commit": ("没有可以入库的行。", "No row left to commit."),
    # Stations list and edit
    "stations_title": ("站点列表", "Stations"),
    "stations_of": ("{district} 的站点", "Stations of {district}"),
    "all_districts": ("全部区县", "All districts"),
    "filter": ("筛选", "Filter"),
    "search_name": ("名称或编号", "Name or id"),
    "status_any": ("全部状态", "Any status"),
    "col_id": ("编号", "ID"),
    "col_name": ("名称", "Name"),
    "col_kind": ("类型", "Type"),
    "col_district": ("区县", "District"),
    "col_status": ("状态", "Status"),
    "col_updated": ("更新时间", "Updated"),
    "col_actions": ("操作", "Actions"),
    "edit": ("修改", "Edit"),
    "view": ("查看", "View"),
    "retire": ("撤销", "Retire"),
    "restore": ("恢复", "Restore"),
    "no_stations": ("没有符合条件的站点。", "No station matches."),
    "page_n": ("第 {page} / {pages} 页，共 {n} 个", "Page {page} of {pages}, {n} stations"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "edit_title": ("修改站点 {id}", "Edit station {id}"),
    "edit_location": ("位置", "Location"),
    "edit_location_help": ("坐标按所选坐标系填写，保存时转换为 WGS-84。不改位置就保持原值。",
                           "Type coordinates in the chosen system; they are converted to WGS-84. Leave them to keep the location."),
    "save": ("保存", "Save"),
    "cancel": ("取消", "Cancel"),
    "saved": ("已保存 {id}。", "Saved {id}."),
    "no_change": ("没有修改任何内容。", "Nothing was changed."),
    "stale_edit": ("该站点在你打开表单后已被修改，请查看最新内容后重新修改。", "Someone changed this station after you opened the form; review the latest version and edit again."),
    "retire_title": ("撤销站点 {id}", "Retire station {id}"),
    "retire_confirm": ("撤销后该站点不再显示在地图上。只有管理员可以恢复。确定撤销“{name}”吗？",
                       "A retired station disappears from the map; only an administrator can restore it. Retire '{name}'?"),
    "retired": ("已撤销 {id}。", "Retired {id}."),
    "restored": ("已恢复 {id}。", "Restored {id}."),
    "honours_admin_only": ("荣誉称号只能由管理员修改。", "Only an administrator can change honours."),
    # Audit
    "audit_title": ("操作记录", "Audit log"),
    "audit_actor": ("操作账号", "Account"),
    "audit_action": ("操作", "Action"),
    "audit_since": ("起始日期", "From"),
    "audit_until": ("截止日期", "Until"),
    "audit_any": ("全部", "Any"),
    "audit_time": ("时间", "Time"),
    "audit_changes": ("变更内容", "Changes"),
    "audit_station": ("站点", "Station"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "export_json": ("导出 JSON", "Export JSON"),
    "no_entries": ("没有符合条件的记录。", "No entries match."),
    "action_add": ("新增", "added"),
    "action_update": ("修改", "edited"),
    "action_retire": ("撤销", "retired"),
    "action_restore": ("恢复", "restored"),
}


def get_lang() -> str:
    from webmap.core.i18n import get_lang as i18n_lang

    try:
        return i18n_lang()
    except Exception:  # noqa: BLE001 - outside a request, or i18n not initialised
        lang = request.args.get("lang") if has_request_context() else None
        return lang if lang in ("zh", "en") else current_app.config.get("DEFAULT_LANG", "zh")


def pt(key: str, **values) -> str:
    """Portal string ``key`` in this request's language, formatted with ``values``."""
    pair = STRINGS.get(key)
    if pair is None:
        return key
    text = pair[1] if get_lang() == "en" else pair[0]
    return text.format(**values) if values else text


def init_app(app) -> None:
    app.jinja_env.globals["pt"] = pt
