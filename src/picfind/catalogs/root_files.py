"""A root's files as the catalog knows them, read as a re-scan compares them with the walk
(`indexing.rescan`): their records, their sizes and times by path (a million rows made at C
speed), and the few that must be read though unchanged, those with something left to do (no
vector for the model, an analysis asked for not run, a skip worth another try). The database
decides that for every file in one query that returns only those few, so its long steps let the
GIL go while the walk runs on its own thread. Portable SQL: each backend reads its rows and says
how its vectors are found."""

from __future__ import annotations

from picfind.catalogs.analyses import seen_sql
from picfind.records import FileRecord, by_path


class RootFiles:
    """Mixed into each catalog, which reads the rows (`_rows_of_root`) in its own dialect."""

    _MARK: str  # the driver's placeholder

    def _rows_of_root(self, columns: str, where: str, params: list, root_id: int,
                      under: list[str] | None) -> dict[bytes, tuple]:
        """Rows (path, size, mtime_ns, *columns) WHERE `where`, by the path's bytes; `under`: see
        `files_of_root`."""
        raise NotImplementedError

    def _has_vector(self, content: str, model: str) -> tuple[str, list]:
        """SQL true when `content` has a vector for the model (a video: its frames'), and its parameters."""
        raise NotImplementedError

    def files_of_root(self, root_id: int, under: list[str] | None = None) -> dict[str, FileRecord]:
        return by_path(self._rows_of_root(", status, content_hash, reason, meta_read", "TRUE", [], root_id, under))

    def sizes_of_root(self, root_id: int, under: list[str] | None = None) -> dict[bytes, tuple]:
        return self._rows_of_root("", "TRUE", [], root_id, under)

    def unsettled_of_root(self, root_id: int, under: list[str] | None, model: str,
                          analyses: list[tuple[str, str]], transient: set[str]) -> dict[bytes, tuple]:
        where, params = unsettled_sql(*self._has_vector("f.content_hash", model), analyses, transient, self._MARK)
        return self._rows_of_root("", where, params, root_id, under)


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
