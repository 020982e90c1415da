"""The counts `status` shows, kept by triggers as files and vectors change (migration 12), so that
`status` reads a few rows at any size: counting the whole tables took 1.5–2.6 s at 1M pictures
(benchmarks/scale.py) and grows with the library.

A file row counts in `files`, `ok`, `positioned`, `early` and `skipped:<reason>`. A content (a
picture's or video's hash held by at least one indexed file) counts once in `contents` and in
`pictures` or `videos`; while it is held, its vectors count in `embedded:<model>` (once per
content) and its videos' kept frames in `moments:<model>`. Each trigger asks only about the one
content it changed, through the index on files' hashes and the vectors' primary key."""

from __future__ import annotations

from picfind.catalogs.sqlite.dialect import owner_sql
from picfind.records import FIRST_PHOTO_YEAR

_UPSERT = "ON CONFLICT(key) DO UPDATE SET n = n + excluded.n;"
_EARLY = f"'{FIRST_PHOTO_YEAR:04d}'"


def _frames(h: str) -> str:
    """The vectors' keys of a video's kept frames ("<hash>@<start>-<end>"), as a range of the key."""
    return f"(content_hash > {h} || '@' AND content_hash < {h} || 'A')"


def _held(h: str, extra: str = "") -> str:
    return f"EXISTS (SELECT 1 FROM files WHERE content_hash = {h} AND status = 'ok'{extra})"


def _kind(row: str) -> str:
    return f"CASE WHEN {row}.duration IS NULL THEN 'pictures' ELSE 'videos' END"


def _same_kind(row: str) -> str:
    return f" AND (duration IS NULL) = ({row}.duration IS NULL)"


def _row(row: str, sign: int) -> str:
    """The per-file counts of `row` (new or old), added with `sign`."""
    ok = f"{row}.status = 'ok'"
    return f"""
    INSERT INTO tallies(key, n) SELECT key, d FROM (
        SELECT 'files' AS key, {sign} AS d
        UNION ALL SELECT 'ok', {sign} * ({ok})
        UNION ALL SELECT 'positioned', {sign} * ({ok} AND {row}.lat IS NOT NULL)
        UNION ALL SELECT 'early', {sign} * ({ok} AND coalesce({row}.taken_at < {_EARLY}, 0))
        UNION ALL SELECT 'skipped:' || coalesce({row}.reason, ''), {sign} * ({row}.status = 'skipped')
    ) WHERE d <> 0 {_UPSERT}"""


def _content(h: str, kind: str, new: str, new_kind: str, sign: int) -> str:
    """A content `h` arriving (+1) or leaving (-1): `new`/`new_kind` say whether it is new to
    the catalog / to its kind; its vectors count with it."""
    return f"""
    INSERT INTO tallies(key, n) SELECT key, d FROM (
        SELECT 'contents' AS key, {sign} AS d WHERE {new}
        UNION ALL SELECT {kind}, {sign} WHERE {new_kind}
        UNION ALL SELECT 'embedded:' || model, {sign} FROM embeddings
            WHERE {new} AND (content_hash = {h} OR {_frames(h)}) GROUP BY model
        UNION ALL SELECT 'moments:' || model, {sign} * count(*) FROM embeddings
            WHERE {new} AND {_frames(h)} GROUP BY model
    ) WHERE true {_UPSERT}"""


def _arrives(old: str | None) -> str:
    """`new`, if indexed: its content arrives unless another file (or `old`, the row's previous
    self) already held it."""
    before = _held("new.content_hash", " AND id <> new.id")
    before_kind = _held("new.content_hash", " AND id <> new.id" + _same_kind("new"))
    if old:
        same = f"({old}.status = 'ok' AND {old}.content_hash = new.content_hash)"
        before = f"({before} OR {same})"
        before_kind = f"({before_kind} OR ({same} AND ({old}.duration IS NULL) = (new.duration IS NULL)))"
    ok = "new.status = 'ok'"
    return _content("new.content_hash", _kind("new"), f"{ok} AND NOT {before}", f"{ok} AND NOT {before_kind}", 1)


def _leaves() -> str:
    """`old`, if it was indexed: its content leaves unless a file (the row's new self included)
    still holds it."""
    ok = "old.status = 'ok'"
    return _content("old.content_hash", _kind("old"), f"{ok} AND NOT {_held('old.content_hash')}",
                    f"{ok} AND NOT {_held('old.content_hash', _same_kind('old'))}", -1)


def _vector(row: str, sign: int) -> str:
    """A vector added or removed: it counts while a file holds its content (`owner`)."""
    key = f"{row}.content_hash"
    owner = owner_sql(key)
    alone = (f"NOT EXISTS (SELECT 1 FROM embeddings WHERE +model = {row}.model AND content_hash <> {key} "
             f"AND (content_hash = o.h OR {_frames('o.h')}))")
    return f"""
    INSERT INTO tallies(key, n) SELECT key, d FROM (
        SELECT 'embedded:' || {row}.model AS key, {sign} AS d FROM (SELECT {owner} AS h) o
            WHERE {_held('o.h')} AND {alone}
        UNION ALL SELECT 'moments:' || {row}.model, {sign} FROM (SELECT {owner} AS h) o
            WHERE instr({key}, '@') > 0 AND {_held('o.h')}
    ) WHERE true {_UPSERT}"""


_OWNER = owner_sql("e.content_hash")

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
CREATE TRIGGER file_counted AFTER INSERT ON files BEGIN
    {_row('new', 1)}
    {_arrives(None)}
END;
CREATE TRIGGER file_uncounted AFTER DELETE ON files BEGIN
    {_row('old', -1)}
    {_leaves()}
END;
CREATE TRIGGER file_recounted AFTER UPDATE OF status, content_hash, reason, lat, taken_at, duration ON files BEGIN
    {_row('old', -1)}
    {_row('new', 1)}
    {_leaves()}
    {_arrives('old')}
END;
CREATE TRIGGER vector_tallied AFTER INSERT ON embeddings BEGIN
    {_vector('new', 1)}
END;
CREATE TRIGGER vector_untallied AFTER DELETE ON embeddings BEGIN
    {_vector('old', -1)}
END;
"""
