"""Run a few calls at the same moment, each in its own thread and database connection: the tests
that show two planners, two batch builds or two pruning runs at once do each thing once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def at_once(
    *calls: Callable[[], Any],
    timeout: float = 120,
    expected: tuple[type[BaseException], ...] = (),
) -> list[Any]:
    """Start every call in a thread, release them together (a barrier), wait for all, and return
    their results in the calls' order. An exception of an ``expected`` type is returned as that
    call's result; any other is raised here (the first one), as is a thread still running after
    ``timeout`` seconds. Each thread closes its own database connection."""
    start = threading.Barrier(len(calls), timeout=timeout)
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(n: int, call: Callable[[], Any]) -> None:
        try:
            start.wait()
            results[n] = call()
        except expected as exc:
            results[n] = exc
        except BaseException as exc:  # raised below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"a call was still running after {timeout} s")
    if errors:
        raise errors[0]
    return results
