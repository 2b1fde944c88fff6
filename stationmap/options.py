"""What every `stationmap` command shares: the registry/districts options and one-line domain errors."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from geo.errors import StationMapError, ValidationError

registry_option = click.option(
    "--store", "--registry", "registry", default=None, envvar=["STATIONMAP_STORE", "STATIONMAP_REGISTRY"],
    help="The registry: a GeoJSON file or a postgresql://… URL [default: data/stations.geojson].",
)
districts_option = click.option(
    "--districts", type=click.Path(dir_okay=False, path_type=Path), default=None, envvar="STATIONMAP_DISTRICTS",
    help="District boundaries GeoJSON [default: data/districts.geojson].",
)


def domain_errors(command):
    """Turn domain errors into one-line click errors (exit status 1); extra problems go to stderr."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ValidationError as exc:
            for problem in exc.problems[1:]:
                click.echo(f"  {problem}", err=True)
            raise click.ClickException(str(exc)) from None
        except StationMapError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper
