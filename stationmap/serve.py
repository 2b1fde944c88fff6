"""`stationmap serve`: the web app under gunicorn, the production WSGI server (several worker processes)."""

from __future__ import annotations

import click


def run_gunicorn(host: str, port: int, workers: int, threads: int, config: dict) -> None:
    """Start gunicorn in this process with ``webmap.create_app(config)`` in every worker."""
    from gunicorn.app.base import BaseApplication

    from webmap import create_app

    # Build once here so a missing or corrupt registry fails before any worker forks,
    # with the store's one-line message instead of a worker boot loop.
    create_app(config)

    class StationMapServer(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", None)
            self.cfg.set("graceful_timeout", 5)

        def load(self):
            return create_app(config)

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
