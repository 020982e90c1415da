"""A throw-away PostgreSQL (the pgserver wheel: 16.2 with pgvector 0.6.2) for the benchmarks that
put a PostgreSQL catalog beside a SQLite one."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_server() -> Iterator[tuple[Path, object]]:
    """(a scratch folder for the SQLite side, the running server with an empty `bench` database);
    the server stops and both go away on leaving."""
    import pgserver

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)  # pgserver runs the server as its own user when started as root
        server = pgserver.get_server(folder / "pg", cleanup_mode="stop")
        try:
            server.psql("CREATE DATABASE bench;")
            yield folder, server
        finally:
            server.cleanup()
