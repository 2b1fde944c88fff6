"""Where the tests' temporary files go: a RAM file system (tmpfs) when the machine has one with room.

The code under test fsyncs every file and folder it replaces (geo.fileio) and the PostgreSQL
tests make and drop a cluster of a few hundred megabytes; on this machine's disk an fsync costs
about a millisecond when it is quiet and far more when it is not, tens of thousands of times a
run, and removing the cluster's files took seconds. On tmpfs both are nearly free, and what the
tests check (the bytes written, the order of replaces, what the database holds) is the same.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

RAM_ROOT = Path("/dev/shm")  # noqa: S108 - only the root: pytest and mkdtemp make private folders in it


@functools.cache
def ram_temp_root(room: int = 1 << 30) -> Path | None:
    """``/dev/shm`` when it is a writable tmpfs with at least ``room`` bytes free, else None."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            tmpfs = any(line.split()[1:3] == [str(RAM_ROOT), "tmpfs"] for line in mounts)
        stat = os.statvfs(RAM_ROOT)
    except OSError:
        return None
    writable = os.access(RAM_ROOT, os.W_OK | os.X_OK)
    return RAM_ROOT if tmpfs and writable and stat.f_bavail * stat.f_frsize >= room else None
