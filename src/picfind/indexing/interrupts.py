"""Ctrl-C between files, not inside one's bookkeeping, and never turned into another error.

An interrupted index run commits every file it has handed to the writer, and its report says
how many it read. A Ctrl-C landing after a file was counted but before the writer had it left
the report one file ahead of the catalog (seen once in a `--ray` run's test). `handing_over`
holds the interrupt for those few statements and raises it right after.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


def waiting(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)`, a wait on threading's locks, where a Ctrl-C stays a Ctrl-C. Raised by a handler
    between a lock's release and its bookkeeping (CPython's `Condition.wait`), it made the lock's
    own exit fail ("release unlocked lock"): the run ended with that error, not as interrupted."""
    try:
        return fn(*args, **kwargs)
    except RuntimeError as e:
        if isinstance(e.__context__, KeyboardInterrupt):
            raise e.__context__ from None
        raise


@contextmanager
def handing_over() -> Iterator[None]:
    """One file counted and handed to the writer, whole: a Ctrl-C meanwhile comes after it. Only
    the main thread receives signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            if callable(previous):
                previous(signal.SIGINT, None)  # the handler it would have met (KeyboardInterrupt by default)
            elif previous != signal.SIG_IGN:
                raise KeyboardInterrupt
