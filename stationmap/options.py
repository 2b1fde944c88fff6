"""What every `stationmap` command shares: the registry/districts options and one-line domain errors."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from geo.errors import StationMapError, ValidationError
from geo.messages import locale_lang, localise, message_of, translate

registry_option = click.option(
    "--store", "--registry", "registry", default=None, envvar=["STATIONMAP_STORE", "STATIONMAP_REGISTRY"],
    help="The registry: a GeoJSON file or a postgresql://… URL [default: data/stations.geojson].",
)
districts_option = click.option(
    "--districts", type=click.Path(dir_okay=False, path_type=Path), default=None, envvar="STATIONMAP_DISTRICTS",
    help="District boundaries GeoJSON [default: data/districts.geojson].",
)


class CommandError(click.ClickException):
    """A one-line error with its prefix ("错误：" / "Error: ") in the command's language."""

    def __init__(self, message: str, lang: str):
        super().__init__(message)
        self.lang = lang

    def show(self, file=None) -> None:
        click.echo(translate("cli.error", self.lang, message=self.format_message()), err=True)


def domain_errors(command):
    """Turn domain errors into one-line click errors (exit status 1) in the command's language
    (``--lang``, else the locale); extra problems go to stderr, one a line."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        lang = kwargs.get("lang") or locale_lang()
        try:
            return command(*args, **kwargs)
        except ValidationError as exc:
            for problem in exc.problems[1:]:
                click.echo(f"  {problem.text(lang)}", err=True)
            first = exc.problems[0].text(lang) if exc.problems else str(exc)
            if len(exc.problems) > 1:
                first += translate("cli.more_problems", lang, n=len(exc.problems) - 1)
            raise CommandError(first, lang) from None
        except StationMapError as exc:
            raise CommandError(localise(message_of(exc), lang), lang) from None

    return wrapper
