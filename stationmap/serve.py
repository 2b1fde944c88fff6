"""`stationmap serve`: the web app under gunicorn, the production WSGI server (several worker processes)."""

from __future__ import annotations

import gc

import click

WORKER_CLASS = "stationmap.worker.FairGeventWorker"


def run_gunicorn(host: str, port: int, workers: int, idle_timeout: int, config: dict) -> None:
    """Start gunicorn in this process; its forked workers share the app built and warmed here."""
    from gunicorn.app.base import BaseApplication

    from webmap import create_app
    from webmap.core.state import get_store

    # Build and warm the app once, before forking: a missing or corrupt registry fails
    # here with one line instead of a worker boot loop, and the workers inherit the loaded
    # registry and its indexes (a 200,000-station registry takes tens of seconds to load).
    app = create_app(config)
    warm_up(app)
    # Each worker follows other servers' writes with a watcher of its own; the parent only supervises.
    with app.app_context():
        get_store().stop_watching()
    click.echo(f"驿站图 serving on http://{host}:{port}/  ({workers} workers; Ctrl-C to stop)", err=True)
    # Everything built so far lives as long as the server. Frozen, the workers' garbage
    # collector skips it: a full collection no longer walks the whole registry (it paused
    # a worker for ~100 ms), and the pages stay shared with the parent after the fork.
    gc.collect()
    gc.freeze()

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

        def load(self):
            return app

    StationMapServer().run()


def warm_up(app) -> None:
    """Build now what the first requests would build in every worker: the nearest index,
    coverage at 1 km and each language's station JSON for the finder."""
    from geo.queries.coverage import snapshot_coverage
    from geo.queries.nearest import index_for
    from webmap.core.i18n import LANGS
    from webmap.core.state import get_snapshot

    with app.app_context():
        snapshot = get_snapshot()
        index_for(snapshot)
        snapshot_coverage(snapshot, 1000.0)
    client = app.test_client()
    for lang in LANGS:
        client.get(f"/api/nearest?lon=106.5516&lat=29.5630&lang={lang}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, envvar="PORT")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes (gevent: each serves many kept-alive connections); each holds "
                   "the registry and its indexes in memory. About one per CPU core.")
@click.option("--idle-timeout", type=click.IntRange(1, 3600), default=15, show_default=True,
              help="Seconds a connection may stay silent (kept alive between requests, or mid-upload) before it is closed.")
@click.option("--store", "--registry", "registry", default=None, envvar=["STATIONMAP_STORE", "STATIONMAP_REGISTRY"],
              help="The registry: a GeoJSON file, or postgresql://… shared by several servers "
                   "(see `stationmap db`) [default: data/stations.geojson].")
@click.option("--tiles", type=click.Choice(["osm", "tianditu", "amap", "none"]), default=None, envvar="STATIONMAP_TILES",
              help="Base map: osm (default), tianditu (needs STATIONMAP_TIANDITU_KEY), amap (GCJ-02), none.")
def serve(host, port, workers, idle_timeout, registry, tiles):
    """Serve the map, the finder, the coverage page and the JSON API.

    \b
    Example:
      stationmap serve --port 8000 --workers 2
    then open http://127.0.0.1:8000/ in a browser.
    """
    from geo.errors import StationMapError
    from geo.registry.postgis import redacted

    # Follow other processes' writes in the background, indexes built before a version is served.
    config = {"REGISTRY_FOLLOW": True}
    if registry:
        config["STORE_URL"] = registry
    if tiles:
        config["TILE_PROVIDER"] = tiles
    click.echo(f"驿站图: loading {redacted(str(registry)) if registry else 'data/stations.geojson'} …", err=True)
    try:
        run_gunicorn(host, port, workers, idle_timeout, config)
    except StationMapError as exc:
        raise click.ClickException(str(exc)) from None
