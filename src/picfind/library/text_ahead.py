"""A query's text side made in a forked child while this process opens the vector index.

usearch's view of a saved graph holds the GIL while it walks every node (about 0.4 s at ten
million pictures). The text encoder's loading thread, the tokenizer and the language detector want
the GIL too, so in one process a cold `picfind search` pays their sum. A child forked before the
index is opened does the text side on the other core and hands back a few kilobytes. Below a few
million pictures the open is short and the child (its own ONNX Runtime start) would be the longer
path: the caller forks only for a large index.

Only where a fork is safe: Linux (macOS's system libraries are not fork-safe), and no other
Python thread yet (a lock one of them held would stay held in the child). The child touches no
catalog connection and ends with `os._exit`, running nothing of this process's on the way out.
Whatever the child could not do is done again here, so its errors are said by the usual code.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator

_LENGTH = struct.Struct("<Q")
_STOPS = {signal.SIGINT, signal.SIGTERM}

# Vectors in an embedded catalog from which a search forks its text side: usearch's view takes
# about 0.04 s a million, the child's own start (ONNX Runtime, the tokenizer) about 0.4 s.
FORK_FROM = 5_000_000


class TextAhead:
    """The values `work()` yields, made in a child process, in order; `value(i)` waits for the
    i-th (None: the child failed or was stopped before it, and the caller does that part itself)."""

    def __init__(self, pid: int, pipe: int) -> None:
        self._pid = pid
        self._pipe = os.fdopen(pipe, "rb")
        self._values: list[object] = []
        self._ended = False

    @classmethod
    def start(cls, work: Callable[[], Iterator[object]]) -> TextAhead | None:
        """The child started on `work`, or None where forking is not safe here."""
        if not sys.platform.startswith("linux") or threading.active_count() > 1:
            return None
        read, write = os.pipe()
        # No Ctrl-C between the fork and the child's own handling: it would unwind this
        # process's stack in the child (its messages said twice, the catalog closed from there).
        stopping = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        pid = os.fork()
        if pid == 0:
            for stop in _STOPS:  # the child just ends on Ctrl-C, running nothing of the parent's
                signal.signal(stop, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, stopping)
            _child(read, write, work)
        signal.pthread_sigmask(signal.SIG_SETMASK, stopping)
        os.close(write)
        return cls(pid, read)

    def value(self, i: int) -> object:
        while len(self._values) <= i and not self._ended:
            head = self._pipe.read(_LENGTH.size)
            size = _LENGTH.unpack(head)[0] if len(head) == _LENGTH.size else 0
            data = self._pipe.read(size) if size else b""
            try:
                if not size or len(data) != size:  # ended, or stopped mid-write: the rest is the caller's
                    raise EOFError
                self._values.append(pickle.loads(data))  # noqa: S301 - this process's own child
            except (EOFError, pickle.UnpicklingError):
                self.close()
        return self._values[i] if i < len(self._values) else None

    def close(self) -> None:
        """Done with the child: stopped if it is still at work (nobody will read the rest)."""
        if not self._ended:
            self._ended = True
            try:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            except (ProcessLookupError, ChildProcessError):  # reaped already (SIGCHLD ignored)
                pass
            self._pipe.close()


def _child(read: int, write: int, work: Callable[[], Iterator[object]]) -> None:
    code = 1
    try:
        os.close(read)
        with os.fdopen(write, "wb") as pipe:
            for value in work():
                data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                pipe.write(_LENGTH.pack(len(data)) + data)
                pipe.flush()
        code = 0
    except BaseException:  # noqa: BLE001, S110 - Ctrl-C, a missing model...: the parent does it again
        pass
    finally:
        os._exit(code)
