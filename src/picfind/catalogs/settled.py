"""Which of a root's files a re-scan must read though unchanged: those with something left to do
(no vector for the model, an analysis asked for not run, a skip worth another try). The database
decides it for every file in one query that returns only those few, so its long steps let the
GIL go while the walk runs on its own thread (`indexing.rescan`). Portable SQL: each backend
says how its vectors are found."""

from __future__ import annotations

from picfind.catalogs.analyses import seen_sql


def unsettled_sql(has_vector: str, vector_params: list, analyses: list[tuple[str, str]],
                transient: set[str], mark: str) -> tuple[str, list]:
    """A condition true for a file (`f`: the files row) with something left to do, and its
    parameters. `has_vector`: SQL true when `f`'s content has a vector for the model (a video:
    its frames')."""
    done = [has_vector, *(seen_sql(kind, "f.content_hash", mark) for kind, _ in analyses)]
    reasons = sorted(transient) or [""]
    settled = (f"CASE WHEN f.status = 'ok' THEN (f.meta_read AND {' AND '.join(done)}) "
               f"WHEN f.status = 'skipped' THEN (f.content_hash IS NULL "
               f"AND coalesce(f.reason, '') NOT IN ({', '.join([mark] * len(reasons))})) ELSE FALSE END")
    return f"NOT coalesce({settled}, FALSE)", [*vector_params, *(model for _, model in analyses), *reasons]
