"""The counts `status` shows on a PostgreSQL catalog, kept as files and vectors change, so that
`status` (and the web page's counts) reads a few rows at any size instead of counting the whole
tables (`count(DISTINCT ...)` over files and embeddings, seconds at millions of pictures).

The same definitions as the SQLite catalog's (`picfind.catalogs.sqlite.tallies`): files, ok,
positioned, early, skipped:<reason> per file row; contents, pictures or videos, embedded:<model>
and moments:<model> per content held by at least one indexed file.

Why not the SQLite design (one row per count, updated by each change): on a shared server several
clients write at once, and a row every writer updates is a lock each one waits on until the
others commit. And a content's counts depend on rows that concurrent transactions cannot see: two
clients writing two copies of one new picture, or one video's frames in two slices (`writers.py`),
would each count it. Locking each content instead costs a lock-table slot per content until
commit (PostgreSQL holds about 64 a connection; a batch of 20,000 files would run out). So
writers only ever insert, and never wait for each other:

* Statement-level triggers (their transition tables) insert each statement's per-file deltas
  into `tallies` (key, n): exact sums, whoever commits first.
* For contents they only queue the hashes that changed (`tallies_touched`). One folder at a time
  (an advisory lock tried, never waited on: `FOLD`, after each batch, prune and root removal)
  takes the queue, recounts those contents from what is committed, records each one's share in
  `tallies_counted` and adds the difference, and folds every delta into one row per key. A
  change committed after it took the queue is still queued, so the next fold sees it.
* `READ` is `tallies` plus what the contents still queued change: exact at its snapshot,
  read-only (a user without write rights can run `status`), a few rows once folded.
"""

from __future__ import annotations

from picfind.records import FIRST_PHOTO_YEAR

_FOLD_LOCK = 0x74616C6C  # "tall": the folder's advisory lock (pg_try_advisory_xact_lock)
_EMPTY = "(SELECT * FROM files WHERE false)"
_COLUMNS = "content_hash, status, reason, lat, taken_at, duration"


def _file_function(name: str, new: str, old: str) -> str:
    """A trigger function adding a statement's per-file deltas and noting the contents it changed:
    those whose (status, kind) rows differ between the rows before and after."""
    return f"""
    CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO tallies(key, n) SELECT key, sum(d) FROM (
            SELECT 1 AS d, {_COLUMNS} FROM {new} UNION ALL SELECT -1, {_COLUMNS} FROM {old}) r,
            LATERAL (VALUES ('files'), (CASE WHEN status = 'ok' THEN 'ok' END),
                (CASE WHEN status = 'ok' AND lat IS NOT NULL THEN 'positioned' END),
                (CASE WHEN status = 'ok' AND taken_at < '{FIRST_PHOTO_YEAR:04d}' THEN 'early' END),
                (CASE WHEN status = 'skipped' THEN 'skipped:' || coalesce(reason, '') END)) k(key)
            WHERE key IS NOT NULL GROUP BY key HAVING sum(d) <> 0;
        INSERT INTO tallies_touched SELECT DISTINCT content_hash FROM (
            (SELECT content_hash, status, duration IS NULL FROM {new} WHERE status = 'ok'
             EXCEPT ALL SELECT content_hash, status, duration IS NULL FROM {old})
            UNION ALL (SELECT content_hash, status, duration IS NULL FROM {old} WHERE status = 'ok'
             EXCEPT ALL SELECT content_hash, status, duration IS NULL FROM {new})) c;
        RETURN NULL;
    END $$;"""


def _vector_function(name: str, rows: str) -> str:
    return f"""
    CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO tallies_touched SELECT DISTINCT owner FROM {rows};
        RETURN NULL;
    END $$;"""


# each of these contents' share of the counts while held, from the rows committed (and this
# transaction's own); a function of the hashes, so each is looked up by its index
_SHARES = """
CREATE FUNCTION tallies_shares(hashes text[]) RETURNS TABLE (share_hash text, share_key text, share_n bigint)
LANGUAGE sql STABLE AS $$
    SELECT h.h, s.key, s.n FROM unnest(hashes) h(h),
        LATERAL (SELECT bool_or(duration IS NOT NULL) AS video FROM files
                 WHERE content_hash = h.h AND status = 'ok' HAVING count(*) > 0) f,
        LATERAL (SELECT 'contents' AS key, 1::bigint AS n
            UNION ALL SELECT CASE WHEN f.video THEN 'videos' ELSE 'pictures' END, 1
            UNION ALL SELECT 'embedded:' || model, 1 FROM embeddings WHERE owner = h.h GROUP BY model
            UNION ALL SELECT 'moments:' || model, count(*) FROM embeddings
                WHERE owner = h.h AND content_hash <> owner GROUP BY model) s
$$;
"""

MIGRATION = f"""
CREATE TABLE tallies (key text NOT NULL, n bigint NOT NULL);        -- deltas, folded into one row a key
CREATE TABLE tallies_touched (content_hash text NOT NULL);          -- contents changed since the last fold
CREATE TABLE tallies_counted (content_hash text NOT NULL, key text NOT NULL, n bigint NOT NULL);
CREATE INDEX tallies_counted_content ON tallies_counted(content_hash);
{_SHARES}
INSERT INTO tallies_counted
    SELECT * FROM tallies_shares(ARRAY(SELECT DISTINCT content_hash FROM files WHERE status = 'ok'));
INSERT INTO tallies SELECT key, sum(n) FROM (
    SELECT key, n FROM tallies_counted
    UNION ALL SELECT 'files', count(*) FROM files
    UNION ALL SELECT 'ok', count(*) FROM files WHERE status = 'ok'
    UNION ALL SELECT 'positioned', count(*) FROM files WHERE status = 'ok' AND lat IS NOT NULL
    UNION ALL SELECT 'early', count(*) FROM files WHERE status = 'ok' AND taken_at < '{FIRST_PHOTO_YEAR:04d}'
    UNION ALL SELECT 'skipped:' || coalesce(reason, ''), count(*) FROM files WHERE status = 'skipped' GROUP BY reason
) t GROUP BY key HAVING sum(n) <> 0;
{_file_function("tallies_files_inserted", "new_rows", _EMPTY)}
{_file_function("tallies_files_updated", "new_rows", "old_rows")}
{_file_function("tallies_files_deleted", _EMPTY, "old_rows")}
{_vector_function("tallies_vectors_inserted", "new_rows")}
{_vector_function("tallies_vectors_deleted", "old_rows")}
CREATE TRIGGER tallies_files_inserted AFTER INSERT ON files REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tallies_files_inserted();
CREATE TRIGGER tallies_files_updated AFTER UPDATE ON files REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tallies_files_updated();
CREATE TRIGGER tallies_files_deleted AFTER DELETE ON files REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tallies_files_deleted();
CREATE TRIGGER tallies_vectors_inserted AFTER INSERT ON embeddings REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tallies_vectors_inserted();
CREATE TRIGGER tallies_vectors_deleted AFTER DELETE ON embeddings REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tallies_vectors_deleted();

CREATE FUNCTION tallies_fold() RETURNS void LANGUAGE plpgsql AS $$
DECLARE hashes text[];
BEGIN
    IF NOT pg_try_advisory_xact_lock({_FOLD_LOCK}) THEN
        RETURN;  -- another client is folding: what it leaves is read as pending, or folded next time
    END IF;
    -- a change committed after this statement is still queued; one before it is seen below
    WITH queue AS (DELETE FROM tallies_touched RETURNING content_hash)
        SELECT coalesce(array_agg(DISTINCT content_hash), '{{}}') INTO hashes FROM queue;
    WITH dropped AS (DELETE FROM tallies_counted WHERE content_hash = ANY(hashes) RETURNING key, n),
    shares AS (SELECT * FROM tallies_shares(hashes)),
    kept AS (INSERT INTO tallies_counted SELECT * FROM shares),
    folded AS (DELETE FROM tallies RETURNING key, n)
    INSERT INTO tallies SELECT key, sum(n) FROM (SELECT key, n FROM folded
        UNION ALL SELECT share_key, share_n FROM shares UNION ALL SELECT key, -n FROM dropped) d
        GROUP BY key HAVING sum(n) <> 0;
END $$;
"""

# the folded counts, and what the contents in the queue change: their shares now, less what was counted
_QUEUE = "ARRAY(SELECT DISTINCT content_hash FROM tallies_touched)"
READ = f"""SELECT key, sum(n)::bigint FROM (SELECT key, n FROM tallies
    UNION ALL SELECT share_key, share_n FROM tallies_shares({_QUEUE})
    UNION ALL SELECT key, -n FROM tallies_counted WHERE content_hash = ANY({_QUEUE})
) t GROUP BY key HAVING sum(n) <> 0"""
FOLD = "SELECT tallies_fold()"
