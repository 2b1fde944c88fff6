"""Run a function of the registry's current snapshot in a pool process (``webmap.core.workpool``).

The pool's child keeps its own copy of the registry, opened from the same store URL as the
app's and kept current the way every store is (``store.snapshot()`` notices a newer version),
so a planning job sends only its parameters and gets back only its result; the snapshot's
caches (population grids, coverage, plans) stay warm in the child between jobs. If a write lands
between the request and the job, the job sees the newer version. Imports no web code.
"""

from __future__ import annotations

from collections import OrderedDict

_STORES: OrderedDict = OrderedDict()
_DISTRICTS: dict = {}
MAX_STORES = 2  # a server has one registry; tests open many small ones, one after another


def on_registry(store_url: str, districts_path: str, fn, args: tuple, kwargs: dict):
    """``fn(snapshot, *args, **kwargs)`` over the registry at ``store_url``, opened once per process
    (the district map once per path, so its population grids are built once)."""
    key = (store_url, districts_path)
    store = _STORES.get(key)
    if store is None:
        from geo.districts import Districts
        from geo.registry import open_store

        districts = _DISTRICTS.get(districts_path)
        if districts is None:
            districts = _DISTRICTS[districts_path] = Districts.load(districts_path)
        store = _STORES[key] = open_store(store_url, districts)
        while len(_STORES) > MAX_STORES:
            _, old = _STORES.popitem(last=False)
            close = getattr(old, "close", None)
            if close is not None:
                close()
    _STORES.move_to_end(key)
    return fn(store.snapshot(), *args, **kwargs)
