"""`stationmap serve`: the web app under gunicorn, the production WSGI server (several worker processes)."""

from __future__ import annotations

import click


def run_gunicorn(host: str, port: int, workers: int, threads: int, config: dict) -> None:
    """Start gunicorn in this process; its forked workers share the app built and warmed here."""
    from gunicorn.app.base import BaseApplication

    from webmap import create_app

    # Build and warm the app once, before forking: a missing or corrupt registry fails
    # here with one line instead of a worker boot loop, and the workers inherit the loaded
    # registry and its indexes (a 200,000-station registry takes tens of seconds to load).
    app = create_app(config)
    with app.app_context():
        from webmap.state import get_snapshot

        snapshot = get_snapshot()
        snapshot.nearest_index  # noqa: B018 - build it now
        snapshot.coverage(1000.0)

    class StationMapServer(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", None)
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("preload_app", True)
            self.cfg.set("timeout", 120)

        def load(self):
            return app

    StationMapServer().run()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, envvar="PORT")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes; each holds the registry and its indexes in memory.")
@click.option("--threads", type=click.IntRange(1, 64), default=1, show_default=True, help="Threads per worker.")
@click.option("--registry", type=click.Path(dir_okay=False), default=None, envvar="STATIONMAP_REGISTRY",
              help="Station registry GeoJSON [default: data/stations.geojson].")
@click.option("--tiles", type=click.Choice(["osm", "tianditu", "amap", "none"]), default=None, envvar="STATIONMAP_TILES",
              help="Base map: osm (default), tianditu (needs STATIONMAP_TIANDITU_KEY), amap (GCJ-02), none.")
def serve(host, port, workers, threads, registry, tiles):
    """Serve the map, the finder, the coverage page and the JSON API.

    \b
    Example:
      stationmap serve --port 8000 --workers 2
    then open http://127.0.0.1:8000/ in a browser.
    """
    from geo.errors import StationMapError

    config = {}
    if registry:
        config["REGISTRY_PATH"] = registry
    if tiles:
        config["TILE_PROVIDER"] = tiles
    click.echo(f"驿站图 serving on http://{host}:{port}/  ({workers} workers; Ctrl-C to stop)", err=True)
    try:
        run_gunicorn(host, port, workers, threads, config)
    except StationMapError as exc:
        raise click.ClickException(str(exc)) from None
