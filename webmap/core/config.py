"""Every default of the web app's configuration, in one place; every key can be overridden by ``create_app(config)``."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

from geo.access.accounts import default_accounts_path
from geo.paths import DATA_DIR, default_districts_path, default_registry_path

DEFAULTS = {
    "REGISTRY_PATH": str(default_registry_path()),
    "DISTRICTS_PATH": str(default_districts_path()),
    # osm | tianditu | amap | none. OSM is slow or blocked in mainland China: deployments
    # there set tianditu (with a key) or amap (GCJ-02; the app shifts markers to match).
    "TILE_PROVIDER": os.environ.get("STATIONMAP_TILES", "osm"),
    "TIANDITU_KEY": os.environ.get("STATIONMAP_TIANDITU_KEY", ""),
    "SECRET_KEY": os.environ.get("STATIONMAP_SECRET_KEY", ""),
    # Where a generated secret key is kept so every worker process shares it (file store; the
    # PostgreSQL store keeps it in the database, shared by every app server).
    "SECRET_KEY_FILE": str(DATA_DIR / ".secret_key"),
    # District/planner/admin accounts (password and token hashes only). Not in git. The
    # same file as `stationmap users` manages: $STATIONMAP_ACCOUNTS or data/accounts.json.
    # With a postgresql:// store, accounts (and every path below) live in the database instead.
    "ACCOUNTS_PATH": str(default_accounts_path()),
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    "MAX_UPLOAD_ROWS": 5000,
    # A station edit is a few hundred bytes; 1 MB leaves room without letting a body eat memory.
    "API_JSON_BODY_LIMIT": 1024 * 1024,
    # Checked uploads wait this long for the clerk's confirmation (directory: None = a private temp dir).
    "UPLOAD_STASH_DIR": None,
    "UPLOAD_STASH_TTL_S": 7200,
    # zh | en: the language of pages without ?lang= or a cookie, and of API answers without ?lang=.
    "DEFAULT_LANG": "zh",
    # Flask-Babel's locale when no request picks one (the folder under translations/).
    "BABEL_DEFAULT_LOCALE": "zh",
    # Answer GET /api/nearest in a WSGI middleware, before Flask's routing (see webmap.public.fastpath).
    "NEAREST_FAST_PATH": True,
    # Above this many stations in one view, the API groups points into grid cells. Clustering
    # the sample's 2,458 points in the browser took 200 ms of main thread on a desktop (several
    # times that on a cheap phone); a city-wide view of grid cells draws at once, and the
    # street-level views a rider uses (a few hundred stations) still get every point.
    "MAX_POINTS_PER_VIEW": 1000,
    # An ungrouped /api/stations answer lists at most this many stations (each ~0.8 kB of JSON):
    # the whole of a 200,000-station registry in one answer took 9 s and 150 MB to make. Narrow it
    # (bbox, district, kind) or ask group=auto; operators export everything with `stationmap db export`.
    "MAX_STATIONS_PER_LIST": 20_000,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Vendored Leaflet and our own JS/CSS: let browsers keep them for an hour.
    "SEND_FILE_MAX_AGE_DEFAULT": 3600,
    # Sign-in. Only failed sign-ins count towards the throttle (flask-limiter syntax).
    "LOGIN_LIMIT_PER_USER": "5 per minute",
    "LOGIN_LIMIT_PER_IP": "30 per minute",
    # Bad bearer tokens from one address; beyond this every token from it waits for the window.
    "BAD_BEARER_LIMIT_PER_IP": "20 per minute",
    # Requests per client address and worker process, any path (webmap.core.budget, limits syntax):
    # 10 a second sustained (20 over two workers), far above a rider's phone (a finder refresh every
    # few seconds, a few dozen requests per page load), room for dozens of phones behind one carrier
    # NAT; a 10 s window keeps a flooding address's first burst small. Beyond it: 429 + Retry-After.
    # None or "": no budget.
    "REQUEST_BUDGET_PER_ADDRESS": os.environ.get("STATIONMAP_REQUEST_BUDGET", "100 per 10 seconds"),
    # Every 429/503 with Retry-After (budget, throttles, busy gates) is answered after this many
    # seconds, so a client that ignores Retry-After gets one answer a second per connection.
    "REQUEST_BUDGET_DELAY_S": 1.0,
    # Reverse proxies in front of the app that set X-Forwarded-For/-Proto (0: none, trust no header).
    "PROXY_COUNT": int(os.environ.get("STATIONMAP_PROXIES", "0") or 0),
    # Where the throttle counts (None: the store's: a SQLite file beside ACCOUNTS_PATH shared by every
    # worker, or the PostgreSQL store's database shared by every app server).
    "RATELIMIT_STORAGE_URI": None,
    # Flask's own PERMANENT_SESSION_LIFETIME defaults to 31 days; a portal session ends sooner.
    "SESSION_LIFETIME": timedelta(hours=8),
    # The CSRF token lives as long as the session: an upload page left open over lunch still works.
    "WTF_CSRF_TIME_LIMIT": 8 * 3600,
    # Expensive work, per worker process (webmap.core.gates): jobs at once, jobs waiting, seconds a
    # job may wait; beyond that 503 + Retry-After. Two cores: one upload or plan at a time leaves
    # the other core to riders; a sign-in's argon2 takes ~50 ms and 64 MiB, so four.
    "GATE_UPLOAD_SLOTS": 1, "GATE_UPLOAD_QUEUE": 4, "GATE_UPLOAD_WAIT_S": 10.0,
    # Reading an uploaded file runs in a separate process at nice 19 (one per upload slot, kept
    # between jobs), with this much memory above its start and this long (wall clock) per file;
    # over either, the upload is refused naming the limit. The bounded file (10 MB, the XLSX
    # limits in geo/uploads/formats.py) reads in well under a second and 200 MiB.
    "GATE_UPLOAD_MEMORY_MB": 512, "GATE_UPLOAD_TIME_S": 60.0,
    "GATE_UPLOAD_PRELOAD": ("geo.uploads.pipeline",),
    # False: uploads and planning run in the worker's native threads instead (scripts/load_abuse.py --pool 0).
    "WORK_POOL": os.environ.get("STATIONMAP_WORK_POOL", "1") != "0",
    "GATE_PLAN_SLOTS": 1, "GATE_PLAN_QUEUE": 4, "GATE_PLAN_WAIT_S": 10.0,
    # Planning runs in a separate process at nice 19 too, which keeps its own copy of the registry
    # (webmap.core.registry_job; memory: about one more registry per worker) and the planning
    # caches; the limit covers that copy. Exact solves may search 120 s, plus the model build.
    "GATE_PLAN_MEMORY_MB": 2048, "GATE_PLAN_TIME_S": 300.0,
    "GATE_PLAN_PRELOAD": ("geo.planning.plans", "geo.registry", "webmap.core.registry_job"),
    "GATE_PASSWORD_SLOTS": 4, "GATE_PASSWORD_QUEUE": 16, "GATE_PASSWORD_WAIT_S": 5.0,
    # Planning computations for visitors who are not signed in, per address (429 beyond).
    "PLAN_LIMIT_ANON": "60 per minute",
    # Idempotency-Key (webmap.portal.idempotency): how long a first answer is replayed, and when a
    # request that never answered counts as interrupted. None: a SQLite file beside ACCOUNTS_PATH (the
    # PostgreSQL store keeps the records in its database).
    "IDEMPOTENCY_TTL_S": 24 * 3600,
    "IDEMPOTENCY_STALE_S": 300,
    "IDEMPOTENCY_DB": None,
    # Planners' workbench.
    "PLAN_CACHE_ENTRIES": 32,
    "PLAN_EXACT_SLOTS": 1,           # concurrent exact (CBC) solves per process; the machine has few cores
    "PLAN_SLOT_WAIT_S": 5.0,
    "PLAN_CANDIDATES_DIR": None,     # default: <tmp>/stationmap-candidates-<uid>
    "PLAN_CANDIDATES_TTL_S": 24 * 3600,
    # Riders' problem reports (None: reports.sqlite beside the registry) and their abuse counters
    # (None: a SQLite file beside the reports, shared by every worker); both in the database with
    # the PostgreSQL store. Upload drafts and planner inputs likewise (the directories are the file store's).
    "REPORTS_PATH": None,
    "REPORT_LIMITS_STORAGE_URI": None,
    # A station not verified for this many days is marked "to verify" on the map, finder and portal.
    "FRESHNESS_MAX_AGE_DAYS": 180,
}


def resolve_secret_key(config, state=None) -> str:
    """The configured secret key, or one generated once and shared by every process: kept (mode 0600)
    in ``SECRET_KEY_FILE`` by the file store, in the database by the PostgreSQL store (``state``)."""
    if config.get("SECRET_KEY"):
        return config["SECRET_KEY"]
    if state is None:
        from geo.registry.state_file import FileState

        state = FileState()
    return state.secret("secret_key", config["SECRET_KEY_FILE"], lambda: secrets.token_hex(32))
