"""Who may write what: district accounts their own district, admins everything, planners nothing.

Every write in a store calls ``require_write`` (and ``require_honours_unchanged``: honours
such as 全国最美工会户外劳动者服务站 are conferred, so only an administrator records them); the
web layer's checks are for friendly messages only, never the only line of defence.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import PermissionDeniedError
from geo.messages import Text

ROLES = ("district", "planner", "admin")


@dataclass(frozen=True)
class Actor:
    """The person or program making a change.

    ``district_adcode`` is set for (and only for) district accounts.
    """

    name: str
    role: str
    district_adcode: str | None = None

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; one of {', '.join(ROLES)}")
        if (self.role == "district") != bool(self.district_adcode):
            raise ValueError("a district account needs a district code, and only a district account has one")

    def can_write(self, adcode: str | None, restore: bool = False) -> bool:
        if self.role == "admin":
            return True
        if self.role == "district" and not restore:
            return adcode is not None and adcode == self.district_adcode
        return False


def require_write(actor: Actor, adcode: str | None, restore: bool = False) -> None:
    """Raise ``PermissionDeniedError`` unless ``actor`` may change stations of district ``adcode``."""
    if actor.can_write(adcode, restore=restore):
        return
    if actor.role == "planner":
        raise PermissionDeniedError(Text("perm.planner", actor=actor.name))
    if restore:
        raise PermissionDeniedError(Text("perm.restore", actor=actor.name))
    raise PermissionDeniedError(Text("perm.district", actor=actor.name, own=actor.district_adcode, adcode=adcode))


def require_honours_unchanged(actor: Actor, before, after) -> None:
    """Raise ``PermissionDeniedError`` if a non-admin changes honours (conferred by the unions, not self-declared)."""
    if actor.role != "admin" and sorted(before or ()) != sorted(after or ()):
        raise PermissionDeniedError(Text("edit.honours", actor=actor.name))


# The command line acts with full rights: whoever runs it already controls the files.
CLI_ACTOR = Actor(name="cli", role="admin")
