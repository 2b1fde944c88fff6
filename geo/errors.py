"""Domain exceptions; the CLI and the web layer map them to exit codes and HTTP statuses in one place each."""

from __future__ import annotations

from dataclasses import dataclass, field

from geo.messages import Text, keep_texts, localise, place


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input: where (``features[3].properties.kind``), what, and a hint.

    ``message`` and ``hint`` may be given as ``geo.messages.Text``: the fields then hold the
    English (so ``str()``, ``as_dict()`` and comparisons read as before) and ``as_dict(lang)``
    / ``text(lang)`` render the problem in Chinese or English. ``where`` is localised by
    ``geo.messages.place``.
    """

    where: str
    message: str
    hint: str = ""
    message_text: Text | str = field(default="", init=False, repr=False, compare=False)
    hint_text: Text | str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self):
        keep_texts(self, "message", "hint")

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def line(self) -> Text:
        """The whole problem as one message (``where: message (hint)``)."""
        if self.hint:
            return Text("line_hint", where=place(self.where), message=self.message_text, hint=self.hint_text)
        return Text("line", where=place(self.where), message=self.message_text)

    def text(self, lang: str = "en") -> str:
        return str(self) if lang == "en" else self.line().render(lang)

    def as_dict(self, lang: str = "en") -> dict[str, str]:
        if lang == "en":
            return {"where": self.where, "message": self.message, "hint": self.hint}
        return {"where": localise(place(self.where), lang), "message": localise(self.message_text, lang),
                "hint": localise(self.hint_text, lang)}

    render = as_dict


class StationMapError(Exception):
    """Base of every error this package raises on purpose."""


class ValidationError(StationMapError, ValueError):
    """Input broke the schema or a rule. Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem | str, source: str = ""):
        if isinstance(problems, (str, Text)):
            problems = [Problem(source or "input", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        self.source = source
        first = str(self.problems[0]) if self.problems else "invalid input"
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{first}{more}")


class NotFoundError(StationMapError, KeyError):
    """No station (or district) with that id."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want plain text
        return str(self.args[0]) if self.args else "not found"


class RegistryUnavailableError(StationMapError, OSError):
    """The registry file is missing, unreadable or corrupt; we refuse to overwrite it."""


class PermissionDeniedError(StationMapError, PermissionError):
    """The actor may not do this (e.g. edit another district's station)."""


class ConflictError(StationMapError):
    """The write conflicts with what is already stored: an account of that name exists, a district
    already has its one active account, or an edit was made on an older version of a station than the
    stored one (the store refuses it instead of overwriting the other change). HTTP 409."""
