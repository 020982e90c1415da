"""Inserting a batch's vectors into the PostgreSQL catalog over several connections at once.

Where the time of a write goes (benchmarks/pg_scale.py, pgvector 0.6.2): the rows themselves
cost about 0.1 ms each, but each vector's insertion into the HNSW index costs the server about
5 ms of CPU (a search with ef_construction, then the pruning of up to 2m neighbours' lists), in
the one server process that runs the statement. Fewer round trips or COPY change nothing there;
spreading the rows over several connections puts that work on several server cores.

The slices are committed before the batch's own transaction (files, thumbnails, claims marked
done). A client killed in between leaves vectors without files: the next run finds them known and
writes the files without running the model, and `prune_embeddings` leaves them alone while their
claim is held by a live client (so another client's prune cannot drop them in that gap).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psycopg

WRITERS = 4  # side connections: a server with fewer free cores only queues them
SIDE_FROM = 256  # vectors in one batch before the side connections pay for themselves
INSERT = "INSERT INTO embeddings(content_hash, model, vector) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"


class VectorWriters:
    """Connections (opened on first use by `connect`) that each insert one sorted slice of a batch
    in its own transaction. Slices are contiguous in content-hash order, so concurrent clients take
    row locks in one order and never deadlock."""

    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        self.connect = connect
        self.connections: list[psycopg.Connection] = []
        self.pool: ThreadPoolExecutor | None = None

    def insert(self, model: str, hashes: list[str], vectors: dict[str, np.ndarray]) -> None:
        if self.pool is None:
            self.connections = [self.connect() for _ in range(WRITERS)]
            self.pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="picfind-pg-writer")
        size = -(-len(hashes) // WRITERS)
        slices = [hashes[i:i + size] for i in range(0, len(hashes), size)]

        def write(db: psycopg.Connection, part: list[str]) -> None:
            with db.transaction(), db.cursor() as cur:
                cur.executemany(INSERT, [(h, model, np.asarray(vectors[h], np.float32)) for h in part])
        try:
            for done in [self.pool.submit(write, db, part) for db, part in zip(self.connections, slices)]:
                done.result()
        except BaseException:
            self.close()  # a broken connection is not kept: the next batch opens fresh ones
            raise

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        for db in self.connections:
            db.close()
        self.pool, self.connections = None, []
