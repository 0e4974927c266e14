"""Python's cyclic garbage collector paused around a tight loop that allocates many small objects.

A bulk job's loop (the nightly health score: a few tuples and strings per customer, ten thousand
customers a chunk) triggers collections whose cost grows with everything the process holds (a
worker holds Django, its models and templates), not with the loop: in a worker they took about a
third of the loop's time. The loop's objects hold no reference cycles, so reference counting frees
them; the collector runs again, as usual, after the loop.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic collection inside the block; collection as before after it (also on error)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
