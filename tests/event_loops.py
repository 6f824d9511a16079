"""A coroutine run to its end from a synchronous test, whatever loop the test's thread has.

Playwright's sync API keeps an event loop running in pytest's thread once a browser test has run
in the session, and ``asyncio.run`` refuses to start beside it; a thread of its own has none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
