"""Run calls at the same moment, each on its own thread and database connection."""

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def at_once(calls: list[Callable[[], T]], *, timeout: float = 60) -> list[T]:
    """Start every call at once (a barrier), wait for all; return their results in order.

    Needs a transactional test (``django_db(transaction=True)``): each thread has its own
    connection, which sees only committed rows.
    """
    barrier = threading.Barrier(len(calls))
    results: list[T | BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = calls[index]()
        except BaseException as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    assert all(result is not None for result in results), "a call did not finish"
    return results  # type: ignore[return-value]
