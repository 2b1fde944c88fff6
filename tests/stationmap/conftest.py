"""The command line picks its language from the locale: run the tests under a Chinese one, whatever the machine's."""

import pytest


@pytest.fixture(autouse=True)
def chinese_locale(monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
