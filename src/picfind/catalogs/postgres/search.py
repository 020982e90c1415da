"""Search in the PostgreSQL catalog: a filter compiled to SQL, and the nearest contents to a
query in one statement (pgvector's HNSW index, or an exact scan).

pgvector before 0.8 has no iterative index scans: an HNSW scan returns at most `ef_search` rows,
and a filter applied to them may leave too few. As in the embedded catalog, a filter passing few
contents is searched exactly, and a broad one over-fetches in proportion to what it throws away
(ef_search widened to match, up to pgvector's limit); the caller doubles the ask when needed.
"""

from __future__ import annotations

import numpy as np
from psycopg import sql

from picfind.catalogs.postgres.session import PgSession
from picfind.filters import Dialect, Filter, condition

EF_SEARCH = 400  # candidates per HNSW query: recall@10 0.973 at 1M, 0.863 with 100 (benchmarks/pg_scale.py)
EF_SEARCH_MAX = 1000  # pgvector's limit; a filter needing more candidates is searched exactly
SUBSET_EXACT_MAX = 50_000  # a filter passing fewer contents than this is searched exactly
WHEN = "coalesce(f.taken_at, f.mtime_local)"  # when a picture was taken (see `picfind.filters`)


POSTGRES = Dialect(mark="%s", prefix="substring(f.path from 1 for %s) = %s", when=WHEN,
                   extensions=lambda extensions: ("f.ext = ANY(%s)", [list(extensions)]), true="true",
                   contains="strpos({}, {}) > 0")


def pg_condition(where: Filter) -> tuple[sql.Composable, list]:
    """A filter as a condition over `files f` and its parameters."""
    text, params = condition(where, POSTGRES)
    return sql.SQL(text), params


class PgSearcher:
    """Nearest contents for one filter, in one SQL statement each time: exact over a small
    filtered selection (or before the HNSW index exists), else the HNSW index over-fetching."""

    def __init__(self, catalog: PgSession, model: str, where: Filter | None) -> None:
        self.catalog, self.model, self.where = catalog, model, where or Filter()
        self.dim = catalog._dim(model)
        self.exact = self.dim is None or not catalog.has_index(model)
        self.spread = 1.0
        if where and not self.exact:
            passing = catalog.count_matching(where)
            if passing <= SUBSET_EXACT_MAX:
                self.exact = True
            else:
                self.spread = max(catalog.vectors_about(model), passing) / max(passing, 1)

    def top(self, query: np.ndarray, k: int) -> tuple[list[tuple[str, float]], bool]:
        if self.dim is None or k <= 0:
            return [], True
        q = np.asarray(query, np.float32)
        ask = int(k * self.spread) + 1
        if self.exact or ask > EF_SEARCH_MAX:
            # Exact: a scan of the contents with a passing file (the filter drives, as a semi-join).
            condition, params = pg_condition(self.where)
            rows = self.catalog._run(sql.SQL(
                "SELECT e.content_hash, -(e.vector <#> %s) FROM embeddings e WHERE e.model = {} AND e.owner "
                "IN (SELECT f.content_hash FROM files f WHERE f.status = 'ok' AND f.offline IS NULL AND {}) "
                "ORDER BY e.vector <#> %s LIMIT %s").format(sql.Literal(self.model), condition), [q, *params, q, k])
            return [(h, float(s)) for h, s in rows], len(rows) < k
        # The inner query is the HNSW index scan (it returns at most ef_search rows); the filter
        # is evaluated in the same statement, on those candidates only.
        condition, params = self._passes("c")
        cast = sql.SQL("e.vector::vector({})").format(sql.Literal(self.dim))
        statement = sql.SQL(
            "SELECT c.content_hash, c.score, {passes} FROM (SELECT e.content_hash, e.owner, -({cast} <#> %s) AS score "
            "FROM embeddings e WHERE e.model = {model} ORDER BY {cast} <#> %s LIMIT %s) c "
            "ORDER BY c.score DESC").format(cast=cast, passes=condition, model=sql.Literal(self.model))
        values = [*params, q, q, ask]  # in the order the placeholders appear
        if ask <= EF_SEARCH:
            rows = self.catalog._run(statement, values)
        else:  # more candidates than the session's ef_search gives: widen it for this statement
            with self.catalog._transaction() as cur:
                cur.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ask)))
                rows = cur.execute(statement, values).fetchall()
        return [(h, float(s)) for h, s, ok in rows if ok], len(rows) < ask

    def _passes(self, alias: str) -> tuple[sql.Composable, list]:
        """Whether the candidate `alias` has a file passing the filter (always true without one)."""
        if not self.where:
            return sql.SQL("true"), []  # offline files: dropped with the rest by files_for_hashes
        condition, params = pg_condition(self.where)
        # A scalar sub-query with LIMIT: probed per candidate through files_content_hash, never
        # planned as a hash of every file.
        probe = sql.SQL("(SELECT true FROM files f WHERE f.content_hash = {}.owner AND f.status = 'ok' "
                        "AND f.offline IS NULL AND {} LIMIT 1) IS NOT NULL")
        return probe.format(sql.Identifier(alias), condition), params


def pg_nearest(catalog: PgSession, model: str, dim: int, ids: np.ndarray, vectors: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each stored vector's k nearest, by the HNSW index, in one statement for the whole block (a
    LATERAL index scan per vector, on the server: the vectors never travel). See `backend.Nearest`."""
    cast = sql.SQL("::vector({})").format(sql.Literal(dim))
    statement = sql.SQL(
        "SELECT a.id, n.id, n.score FROM embeddings a CROSS JOIN LATERAL (SELECT b.id, "
        "-(b.vector{cast} <#> a.vector{cast}) AS score FROM embeddings b WHERE b.model = {model} "
        "ORDER BY b.vector{cast} <#> a.vector{cast} LIMIT %s) n WHERE a.id = ANY(%s)").format(
        cast=cast, model=sql.Literal(model))
    with catalog._transaction() as cur:
        # copies are very close: a short search finds them (as the embedded hnsw path does)
        cur.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(max(2 * k, 40))))
        rows = cur.execute(statement, [k, ids.tolist()]).fetchall()
    keys, scores = np.full((len(ids), k), -1, np.int64), np.full((len(ids), k), -np.inf, np.float32)
    if not rows:
        return keys, scores
    # up to k rows per stored vector, in arrays (a block is 10,000 vectors: 160,000 rows)
    stored, found, found_scores = (np.array(column) for column in zip(*rows))
    order = np.argsort(ids)
    row = order[np.searchsorted(ids, stored, sorter=order)]
    by_row = np.argsort(row, kind="stable")
    row = row[by_row]
    col = np.arange(len(row)) - np.searchsorted(row, row)  # the place of each among its vector's rows
    keys[row, col], scores[row, col] = found[by_row], found_scores[by_row]
    return keys, scores
