"""Short collector pauses in a serving process: what it keeps for good is left out of full passes.

CPython's cyclic collector walks every object it tracks on a full pass. A serving process holds
about 160,000 from start-up (the manifest's registry, the routes, the tables, the libraries), and
under load a full pass over them held the event loop 50 to 90 ms several times a minute: the tail
of every route. ``gc.freeze()`` moves the objects that exist to a generation no pass walks. They
are still freed when their last reference goes; only a reference cycle among them is never
collected, which costs one replaced manifest version's registry (about a thousand objects) once.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle(*, collect: bool) -> None:
    """Leave what exists now out of every later full pass; with ``collect``, first free what is
    garbage already (a full pass: for start-up, before anything is served)."""
    if collect:
        gc.collect()
    gc.freeze()
