"""The vector index of the shared catalog: one pgvector HNSW index per model.

A partial index on `vector::vector(d)` per model, made after the first bulk load (far faster than
growing it row by row) and kept current by PostgreSQL afterwards. Searches and inserts walk the
graph in the server's shared_buffers, so `index_status` reports the index's size beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from hashlib import blake2b

import psycopg
from psycopg import sql

from picfind.catalogs.postgres.schema import LOCK_KEY
from picfind.catalogs.postgres.search import EF_SEARCH, pg_nearest
from picfind.catalogs.protocol import BuildProgress, Nearest
from picfind.records import CatalogError

HNSW_OPTIONS = "m = 16, ef_construction = 64"  # pgvector's defaults


class PgVectorIndex:
    """Catalog methods for the HNSW indexes (mixed into `PgCatalog`, which provides `_run`, `_one`,
    `_transaction` and the per-client memos `_dims` and `_indexed`)."""

    _run: Callable[..., list[tuple]]
    _one: Callable[..., tuple | None]
    _transaction: Callable[[], AbstractContextManager[psycopg.Cursor]]
    _dims: dict[str, int]
    _indexed: set[str]

    def choose_index(self, backend: str) -> None:
        raise CatalogError("--ann chooses the vector index of a SQLite catalog; a PostgreSQL catalog "
                           "searches with pgvector's HNSW index")

    def _index_name(self, model: str) -> str:
        return "embeddings_hnsw_" + blake2b(model.encode(), digest_size=6).hexdigest()

    def _dim(self, model: str) -> int | None:
        if model not in self._dims:
            row = self._one("SELECT vector_dims(vector) FROM embeddings WHERE model = %s LIMIT 1", (model,))
            if row is None:
                return None
            self._dims[model] = row[0]
        return self._dims[model]

    def has_index(self, model: str) -> bool:
        """Whether this model's HNSW index exists (remembered once seen: it is never dropped)."""
        if model not in self._indexed:
            if self._one("SELECT 1 FROM pg_indexes WHERE indexname = %s", (self._index_name(model),)) is None:
                return False
            self._indexed.add(model)
        return True

    def sync_index(self, model: str, progress: BuildProgress | None = None) -> None:
        """Build this model's HNSW index once its vectors are loaded (much faster than growing it
        row by row during a bulk load); PostgreSQL keeps it current afterwards."""
        dim = self._dim(model)
        if dim is None or self.has_index(model):
            return
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, 1)", (LOCK_KEY,))  # one builder at a time
            # The graph must fit in maintenance_work_mem or the build spills to disk and crawls: raise
            # it to 1 GB for this build, never lower what the server's admin set for a larger archive.
            cur.execute("SELECT set_config('maintenance_work_mem', '1GB', true) "
                        "WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('1GB')")
            cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON embeddings USING hnsw ((vector::vector({})) "
                                "vector_ip_ops) WITH ({}) WHERE model = {}").format(
                sql.Identifier(self._index_name(model)), sql.Literal(dim), sql.SQL(HNSW_OPTIONS),
                sql.Literal(model)))
        self._run("ANALYZE files, embeddings")  # fresh statistics after a bulk load: good query plans

    def index_status(self, model: str) -> dict:
        """With the index, its size beside the server's buffer pool: an index bigger than
        shared_buffers is read through the OS for every search and every new picture."""
        if not self.has_index(model):
            return {"setting": "pgvector", "in_use": "exact", "ef_search": EF_SEARCH}
        index_bytes, pool_bytes = self._one("SELECT coalesce(pg_relation_size(to_regclass(%s)), 0), "
                                            "pg_size_bytes(current_setting('shared_buffers'))",
                                            (self._index_name(model),))
        return {"setting": "pgvector", "in_use": "hnsw", "ef_search": EF_SEARCH, "index_bytes": index_bytes,
                "shared_buffers_bytes": pool_bytes}

    def open_index(self, model: str) -> None:
        self.has_index(model)  # PostgreSQL holds the index; this only learns whether it is there

    def nearest(self, model: str) -> Nearest | None:
        dim = self._dim(model)
        return partial(pg_nearest, self, model, dim) if dim is not None and self.has_index(model) else None
