"""The counts `status` shows, kept by triggers as files and vectors change (migration 12), so that
`status` reads a few rows at any size: counting the whole tables took 1.5–2.6 s at 1M pictures
(benchmarks/scale.py) and grows with the library.

A file row counts in `files`, `ok`, `positioned`, `early` and `skipped:<reason>`. A content (a
picture's or video's hash held by at least one indexed file) counts once in `contents` and in
`pictures` or `videos`; while it is held, its vectors count in `embedded:<model>` (once per
content) and its videos' kept frames in `moments:<model>`. Each trigger asks only about the one
content it changed, through the index on files' hashes and the vectors' primary key, and the
common ones are plain updates of a few rows by key (an upsert a file cost a delete 8x its time)."""

from __future__ import annotations

from picfind.catalogs.sqlite.dialect import frames_sql, owner_sql
from picfind.records import FIRST_PHOTO_YEAR

_UPSERT = "ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;"
_EARLY = f"'{FIRST_PHOTO_YEAR:04d}'"


def _frames(h: str) -> str:
    return frames_sql("content_hash", h)


def _held(h: str, extra: str = "") -> str:
    return f"EXISTS (SELECT 1 FROM files WHERE content_hash = {h} AND status = 'ok'{extra})"


def _rows(changes: list[tuple[str, int]]) -> str:
    """The per-file counts of each (row, sign): one update of four rows by key."""
    def delta(condition: str) -> str:
        return " + ".join(f"{sign} * ({condition.format(r=row)})" for row, sign in changes)
    ok = "{r}.status = 'ok'"
    return f"""UPDATE tallies SET n = n + CASE key
        WHEN 'files' THEN {delta("1")}
        WHEN 'ok' THEN {delta(ok)}
        WHEN 'positioned' THEN {delta(ok + " AND {r}.lat IS NOT NULL")}
        ELSE {delta(ok + " AND coalesce({r}.taken_at < " + _EARLY + ", 0)")} END
    WHERE key IN ('files', 'ok', 'positioned', 'early');"""


def _skipped(row: str, sign: int) -> str:
    return f"INSERT INTO tallies(key, n) VALUES ('skipped:' || coalesce({row}.reason, ''), {sign}) {_UPSERT}"


def _content(row: str, sign: int) -> str:
    """The content of `row` arriving (+1) or leaving (-1) the catalog: its kind, and its vectors."""
    h = f"{row}.content_hash"
    kind = f"CASE WHEN {row}.duration IS NULL THEN 'pictures' ELSE 'videos' END"
    return f"""UPDATE tallies SET n = n + {sign} WHERE key IN ('contents', {kind});
    INSERT INTO tallies(key, n) SELECT key, d FROM (
        SELECT 'embedded:' || model AS key, {sign} AS d FROM embeddings
            WHERE content_hash = {h} OR {_frames(h)} GROUP BY model
        UNION ALL SELECT 'moments:' || model, {sign} * count(*) FROM embeddings WHERE {_frames(h)} GROUP BY model
    ) WHERE true {_UPSERT}"""


def _vector(row: str, sign: int) -> str:
    """A vector added or removed while a file holds its content (`o.h`, its owner)."""
    key = f"{row}.content_hash"
    alone = (f"NOT EXISTS (SELECT 1 FROM embeddings WHERE +model = {row}.model AND content_hash <> {key} "
             f"AND (content_hash = o.h OR {_frames('o.h')}))")
    return f"""INSERT INTO tallies(key, n) SELECT key, d FROM (
        SELECT 'embedded:' || {row}.model AS key, {sign} AS d FROM (SELECT {owner_sql(key)} AS h) o WHERE {alone}
        UNION ALL SELECT 'moments:' || {row}.model, {sign} WHERE instr({key}, '@') > 0
    ) WHERE true {_UPSERT}"""


_OWNER = owner_sql("e.content_hash")
_FILES_CHANGE = "UPDATE OF status, content_hash, reason, lat, taken_at, duration"
_ARRIVED = f"new.status = 'ok' AND NOT {_held('new.content_hash', ' AND id <> new.id')}"
_LEFT = f"old.status = 'ok' AND NOT {_held('old.content_hash')}"
_MOVED_IN = f"{_ARRIVED} AND NOT (old.status = 'ok' AND old.content_hash = new.content_hash)"

MIGRATION = f"""
CREATE TABLE tallies (key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO tallies SELECT 'files', count(*) FROM files;
INSERT INTO tallies SELECT 'ok', count(*) FROM files WHERE status = 'ok';
INSERT INTO tallies SELECT 'positioned', count(*) FROM files WHERE status = 'ok' AND lat IS NOT NULL;
INSERT INTO tallies SELECT 'early', count(*) FROM files WHERE status = 'ok' AND taken_at < {_EARLY};
INSERT INTO tallies SELECT 'skipped:' || coalesce(reason, ''), count(*) FROM files WHERE status = 'skipped'
    GROUP BY 1;
INSERT INTO tallies SELECT 'contents', count(DISTINCT content_hash) FROM files WHERE status = 'ok';
INSERT INTO tallies SELECT 'pictures', count(DISTINCT content_hash) FROM files WHERE status = 'ok' AND duration IS NULL;
INSERT INTO tallies SELECT 'videos', count(DISTINCT content_hash) FROM files WHERE status = 'ok'
    AND duration IS NOT NULL;
INSERT INTO tallies SELECT 'embedded:' || model, count(DISTINCT {_OWNER}) FROM embeddings e
    WHERE {_held(_OWNER)} GROUP BY model;
INSERT INTO tallies SELECT 'moments:' || model, count(*) FROM embeddings e
    WHERE instr(e.content_hash, '@') > 0 AND {_held(_OWNER)} GROUP BY model;

CREATE TRIGGER file_counted AFTER INSERT ON files BEGIN {_rows([("new", 1)])} END;
CREATE TRIGGER file_uncounted AFTER DELETE ON files BEGIN {_rows([("old", -1)])} END;
CREATE TRIGGER file_recounted AFTER {_FILES_CHANGE} ON files BEGIN {_rows([("old", -1), ("new", 1)])} END;
CREATE TRIGGER skip_counted AFTER INSERT ON files WHEN new.status = 'skipped' BEGIN {_skipped("new", 1)} END;
CREATE TRIGGER skip_uncounted AFTER DELETE ON files WHEN old.status = 'skipped' BEGIN {_skipped("old", -1)} END;
CREATE TRIGGER skip_left AFTER {_FILES_CHANGE} ON files WHEN old.status = 'skipped' BEGIN {_skipped("old", -1)} END;
CREATE TRIGGER skip_came AFTER {_FILES_CHANGE} ON files WHEN new.status = 'skipped' BEGIN {_skipped("new", 1)} END;
CREATE TRIGGER content_arrived AFTER INSERT ON files WHEN {_ARRIVED} BEGIN {_content("new", 1)} END;
CREATE TRIGGER content_left AFTER DELETE ON files WHEN {_LEFT} BEGIN {_content("old", -1)} END;
CREATE TRIGGER content_moved_out AFTER {_FILES_CHANGE} ON files WHEN {_LEFT} BEGIN {_content("old", -1)} END;
CREATE TRIGGER content_moved_in AFTER {_FILES_CHANGE} ON files WHEN {_MOVED_IN} BEGIN {_content("new", 1)} END;
CREATE TRIGGER vector_tallied AFTER INSERT ON embeddings
    WHEN {_held(owner_sql("new.content_hash"))} BEGIN {_vector("new", 1)} END;
CREATE TRIGGER vector_untallied AFTER DELETE ON embeddings
    WHEN {_held(owner_sql("old.content_hash"))} BEGIN {_vector("old", -1)} END;
"""
