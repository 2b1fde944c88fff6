"""``create_once``: of processes racing to make a secret file, all get the first one's whole text."""

from __future__ import annotations

import multiprocessing
import stat

from geo.fileio import create_once


def _make(args):
    path, i = args
    return create_once(path, f"secret-{i:04d}")


def test_racing_processes_agree_on_one_whole_value(tmp_path):
    path = tmp_path / "keys" / ".secret"
    with multiprocessing.get_context("fork").Pool(8) as pool:
        seen = pool.map(_make, [(path, i) for i in range(64)])
    assert len(set(seen)) == 1 and seen[0].startswith("secret-")  # never "" from a half-written file
    assert path.read_text() == seen[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [".secret"]  # no temporary files left
    assert create_once(path, "another") == seen[0]
