"""A throw-away PostgreSQL (the pgserver wheel: 16.2 with pgvector 0.6.2) for the benchmarks that
put a PostgreSQL catalog beside a SQLite one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def sized_settings(n: int) -> dict[str, str]:
    """What an admin sets on a server for an archive of n vectors (docs/scale.md): the HNSW
    graph (about 2.3 kB a vector at 512 dims) in maintenance_work_mem for the build, and
    shared_buffers at a quarter of the machine's memory, as PostgreSQL's manual suggests, so
    that searches and inserts walk the graph in PostgreSQL's own cache (the default is 128 MB)."""
    ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    try:  # in a container, its memory limit (cgroup v2), when lower
        ram_mb = min(ram_mb, int(Path("/sys/fs/cgroup/memory.max").read_text()) // 2**20)
    except (OSError, ValueError):  # no cgroup v2 file, or "max"
        pass
    return {"maintenance_work_mem": f"{max(1024, n * 3 // 1000)}MB", "shared_buffers": f"{ram_mb // 4}MB"}


@contextmanager
def scratch_server(settings: dict[str, str] | None = None) -> Iterator[tuple[Path, object]]:
    """(a scratch folder for the SQLite side, the running server with an empty `bench` database);
    `settings` go in with ALTER SYSTEM and a restart. The server stops and both go away on leaving."""
    import pgserver
    from pgserver._commands import pg_ctl
    from pgserver.utils import PostmasterInfo

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)  # pgserver runs the server as its own user when started as root
        server = pgserver.get_server(folder / "pg", cleanup_mode="stop")
        try:
            if settings:
                for key, value in settings.items():  # one statement a call: not in a transaction block
                    server.psql(f"ALTER SYSTEM SET {key} = '{value}';")
                pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=120)
                # pgserver stops the server it knows on cleanup: tell it the restarted one's pid
                server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)
            server.psql("CREATE DATABASE bench;")
            yield folder, server
        finally:
            server.cleanup()
