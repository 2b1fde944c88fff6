"""Jobs for the work-pool tests: module-level functions, so the pool's child process can import them."""

from __future__ import annotations

import os
import time
from pathlib import Path


def where_and_how_nice() -> tuple[int, int]:
    print("a job that prints does not disturb the answers")  # goes to stderr in the child
    return os.getpid(), os.nice(0)


def allocate(mib: int) -> int:
    return len(bytearray(mib * 2**20))


def wait_for(path: str) -> str:
    """Busy until ``path`` exists (the test decides when, not a clock)."""
    while not Path(path).exists():
        time.sleep(0.01)
    return "done"


def fail(message: str):
    raise ValueError(message)
