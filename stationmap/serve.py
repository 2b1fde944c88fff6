"""`stationmap serve`: the web app under gunicorn, the production WSGI server (several worker processes)."""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import threading
from pathlib import Path

import click

from geo.messages import locale_lang, translate
from stationmap.options import domain_errors

WORKER_CLASS = "stationmap.worker.FairGeventWorker"


def control_socket_path(host: str, port: int) -> str:
    """This server's own gunicorn control socket, in a private directory of this user.

    gunicorn's default (``~/.gunicorn/gunicorn.ctl``) is one path for every server a user
    starts: a second server took the first one's socket over.
    """
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"stationmap-{os.getuid()}"
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return str(base / f"gunicorn-{host.replace(':', '_')}-{port}.ctl")


def run_gunicorn(host: str, port: int, workers: int, idle_timeout: int, config: dict,
                 max_connections_per_address: int = 64, header_timeout: float = 20.0, body_timeout: float = 60.0,
                 lang: str = "zh") -> None:
    """Start gunicorn in this process; its forked workers share the app built and warmed here."""
    # Load the registry and build the nearest index once, before forking: a missing or corrupt
    # registry fails here with one line instead of a worker boot loop, and the workers inherit
    # what riders need first. The rest is built by each worker in the background (warm_rest).
    # A database starts on the load statement first, and the web app's modules import meanwhile
    # (~1 s sooner at 200,000 stations).
    loading = RegistryLoad(config)
    from gunicorn.app.base import BaseApplication

    from geo.registry.snapshot import release_freed_memory
    from stationmap.worker import FairHandler
    from webmap import create_app

    app = create_app({**config, "STORE": loading.store()})
    warm_essentials(app)
    # Each worker follows other servers' writes with a watcher of its own (REGISTRY_FOLLOW="workers"):
    # none runs here, so nothing has to be stopped (a watcher waits up to 1 s on its connection) before the fork.
    click.echo(translate("cli.serve_ready", lang, url=f"http://{host}:{port}/", workers=workers), err=True)
    # Everything built so far lives as long as the server. Frozen, the workers' garbage
    # collector skips it: a full collection no longer walks the whole registry (it paused
    # a worker for ~100 ms), and the pages stay shared with the parent after the fork.
    release_freed_memory()  # what loading and importing freed would otherwise stay resident in every worker too
    gc.freeze()
    # A worker follows other servers' writes in a thread of its own; riders' requests (the event loop)
    # must get the interpreter back quickly while it works: switch every 1 ms, not every 5.
    sys.setswitchinterval(0.001)

    class StationMapServer(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", WORKER_CLASS)
            self.cfg.set("keepalive", idle_timeout)
            self.cfg.set("accesslog", None)
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("preload_app", True)
            self.cfg.set("timeout", 120)
            self.cfg.set("control_socket", control_socket_path(host, port))
            # Once the worker is ready to answer: started at the fork, the warm-up's thread held back the
            # worker's own set-up (gevent's patching) by ~0.5 s at 200,000 stations.
            self.cfg.set("post_worker_init", lambda _worker: start_warming(app))

        def load(self):
            return app

    # Workers fork from this process, so their handler class inherits the cap.
    FairHandler.max_connections_per_address = max_connections_per_address
    FairHandler.header_timeout_s, FairHandler.body_timeout_s = float(header_timeout), float(body_timeout)

    StationMapServer().run()


class RegistryLoad:
    """Load the store of ``config`` (``STORE_URL``, else the default registry), its current version and
    nearest index (``store()``).

    With a database, the load statement is sent at once, from a thread (``postgis_load.prefetch``), and
    the database works on it (~1.5 s at 200,000 stations) while this thread imports the web app; ``store()``
    then builds the registry from what it read. Only this thread imports modules: two threads importing
    at once can each meet a module the other has half imported."""

    def __init__(self, config: dict):
        from geo.registry import is_database_url

        self._config = config
        self._url = config.get("STORE_URL") or config.get("REGISTRY_PATH")
        self._prefetch = None
        if is_database_url(self._url):
            from geo.registry.postgis_load import prefetch

            self._prefetch = threading.Thread(target=prefetch, args=(self._url,), name="stationmap-prefetch", daemon=True)
            self._prefetch.start()

    def store(self):
        from geo.districts import Districts
        from geo.paths import default_districts_path, default_registry_path
        from geo.queries.nearest import index_for
        from geo.registry import open_store

        if self._prefetch is not None:
            self._prefetch.join()
        districts = Districts.load(self._config.get("DISTRICTS_PATH") or default_districts_path())
        store = open_store(self._url or str(default_registry_path()), districts)
        index_for(store.snapshot())
        return store


def warm_essentials(app) -> None:
    """What the server answers riders with from its first request: the registry and its nearest index."""
    from geo.queries.nearest import index_for
    from webmap.core.state import get_snapshot

    with app.app_context():
        index_for(get_snapshot())


def start_warming(app) -> None:
    """In a worker, once it is ready to answer: build the rest (``warm_rest``) in a thread of its own while it answers."""
    from geo.registry.backend import native_thread

    native_thread(lambda: warm_rest(app), "stationmap-warm").start()


def warm_rest(app) -> None:
    """Build now what later first requests would otherwise wait for: the ball trees for far queries,
    coverage at 1 km, the place-search gazetteer (~2 s at 200,000 stations), the finder's answer in each
    language, the map page's first view (the whole city, grouped) and its text filter. A request that comes first
    builds what it needs itself; this only spares the wait. At 200,000 stations this takes several
    seconds, which is why the server answers before it is done."""
    from geo.queries.coverage import snapshot_coverage
    from geo.queries.nearest import index_for
    from geo.queries.search import gazetteer_for
    from geo.registry.snapshot import release_freed_memory
    from webmap.core.i18n import LANGS
    from webmap.core.state import get_snapshot

    try:
        # What each step frees goes back to the system before the next (building coverage alone peaks
        # ~100 MB above what it keeps), so the worker's resident memory never stands far above what it holds.
        with app.app_context():
            snapshot = get_snapshot()
            index_for(snapshot).build_ball_trees()
            snapshot_coverage(snapshot, 1000.0)
            release_freed_memory()
            gazetteer_for(snapshot)
            release_freed_memory()
            # No population grids: planning runs in separate processes, which build and keep them.
        client = app.test_client()
        for lang in LANGS:
            client.get(f"/api/nearest?lon=106.5516&lat=29.5630&lang={lang}")
        client.get("/api/stations?bbox=105.2,28.1,110.2,32.3&zoom=8&group=auto&fields=min")
        client.get("/api/stations?bbox=105.2,28.1,110.2,32.3&zoom=8&group=auto&fields=min&q=%E7%AB%99")  # the map's text filter
        release_freed_memory()
    except Exception as exc:  # noqa: BLE001 - warming is an optimisation: the requests build what they need
        click.echo(f"驿站图: warming up in the background stopped: {exc!r}", err=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, envvar="PORT")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes (gevent: each serves many kept-alive connections); each holds "
                   "the registry and its indexes in memory. About one per CPU core.")
@click.option("--idle-timeout", type=click.IntRange(1, 3600), default=15, show_default=True,
              help="Seconds a connection may stay silent (kept alive between requests, or mid-upload) before it is closed.")
@click.option("--max-connections-per-address", type=click.IntRange(0, 100_000), default=64, show_default=True,
              help="Connections one client address may hold per worker (more get 429). 0 for no cap: behind a "
                   "reverse proxy every client shares its address, and the proxy limits instead (deploy/nginx.conf).")
@click.option("--header-timeout", type=click.FloatRange(1, 600), default=20.0, show_default=True,
              help="Seconds a request's line and headers may take to arrive in all (slowly trickled headers get 408).")
@click.option("--body-timeout", type=click.FloatRange(1, 3600), default=60.0, show_default=True,
              help="Seconds a request's body may take to arrive in all (a stalled upload is refused).")
@click.option("--store", "--registry", "registry", default=None, envvar=["STATIONMAP_STORE", "STATIONMAP_REGISTRY"],
              help="The registry: a GeoJSON file, or postgresql://… shared by several servers "
                   "(see `stationmap db`) [default: data/stations.geojson].")
@click.option("--tiles", type=click.Choice(["osm", "tianditu", "amap", "none"]), default=None, envvar="STATIONMAP_TILES",
              help="Base map: osm (default), tianditu (needs STATIONMAP_TIANDITU_KEY), amap (GCJ-02), none.")
@domain_errors
def serve(host, port, workers, idle_timeout, max_connections_per_address, header_timeout, body_timeout, registry, tiles):
    """Serve the map, the finder, the coverage page and the JSON API.

    \b
    Example:
      stationmap serve --port 8000 --workers 2
    then open http://127.0.0.1:8000/ in a browser.
    """
    from geo.registry.postgis import redacted

    # Follow other processes' writes in the background, indexes built before a version is served.
    config = {"REGISTRY_FOLLOW": "workers"}  # in each worker: the parent only supervises
    if registry:
        config["STORE_URL"] = registry
    if tiles:
        config["TILE_PROVIDER"] = tiles
    lang = locale_lang()
    where = redacted(str(registry)) if registry else "data/stations.geojson"
    click.echo(translate("cli.serve_loading", lang, where=where), err=True)
    run_gunicorn(host, port, workers, idle_timeout, config, max_connections_per_address, header_timeout, body_timeout,
                 lang)
