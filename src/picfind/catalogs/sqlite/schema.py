"""The embedded catalog's schema: numbered SQLite migrations, applied in order and recorded in
`PRAGMA user_version` (`picfind.catalogs.postgres.schema` is the PostgreSQL catalog's counterpart)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator

from picfind.catalogs.sqlite.tallies import MIGRATION as TALLIES_MIGRATION
from picfind.catalogs.sqlite.text import MIGRATION as TEXT_MIGRATION
from picfind.media.formats import EXTENSIONS, LIVE_MOTION, PHOTOS_V1, RAW_WITH_JPEG, WITH_VIDEOS_V2
from picfind.records import DEFAULT_EXCLUDES, DEFAULT_EXCLUDES_V1

# a file's row made to differ from the file (a time no file has): the next run reads it again
PAIRS_MIGRATION = f"""
UPDATE files SET mtime_ns = -1 WHERE status = 'skipped' AND reason IN ('{RAW_WITH_JPEG}', '{LIVE_MOTION}');
"""


def _json(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{e}"' for e in items) + "]"  # as json.dumps writes a root's extensions


def today_excludes_sql() -> str:
    """SQL giving the roots stored with the default excludes from before the clutter list today's
    defaults, any excludes of the user's own kept after them (a JSON list's text, as json.dumps
    writes it: the old defaults then `]` or `, "..."`). Roots added with --no-default-excludes (no
    `@eaDir` first) and lists of the user's own making stay as they are."""
    old, new = _json(DEFAULT_EXCLUDES_V1)[:-1], _json(DEFAULT_EXCLUDES)[:-1]
    rest = f"substr(excludes, {len(old) + 1})"
    return (f"UPDATE roots SET excludes = '{new}' || {rest} WHERE substr(excludes, 1, {len(old)}) = '{old}' "
            f"AND ({rest} = ']' OR substr(excludes, {len(old) + 1}, 2) = ', ');")


def reown_sql(leaving: int = 0) -> str:
    """SQL giving every file to the innermost root that holds it, root `leaving` left out (a
    file under two nested roots belongs to the inner one, whichever was indexed last)."""
    sep = os.fsencode(os.sep).hex()
    innermost = (f"SELECT r.id FROM roots r WHERE r.id != {int(leaving)} AND substr(files.path, 1, "
                 f"length(r.path) + 1) = CAST(r.path || X'{sep}' AS BLOB) ORDER BY length(r.path) DESC LIMIT 1")
    return f"UPDATE files SET root_id = ({innermost}) WHERE root_id IS NOT ({innermost}) AND ({innermost}) IS NOT NULL;"


MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE roots (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        extensions TEXT NOT NULL,          -- JSON list, lower case, no dots
        excludes TEXT NOT NULL,            -- JSON list of glob patterns
        added_at REAL NOT NULL
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        content_hash TEXT,                 -- NULL for files skipped before hashing
        status TEXT NOT NULL CHECK (status IN ('ok', 'skipped')),
        reason TEXT,                       -- why a skipped file was skipped (a category)
        detail TEXT,                       -- the error behind the reason
        width INTEGER,
        height INTEGER
    );
    CREATE INDEX files_content_hash ON files(content_hash);
    CREATE INDEX files_root ON files(root_id);
    CREATE TABLE embeddings (
        content_hash TEXT NOT NULL,
        model TEXT NOT NULL,
        vector BLOB NOT NULL,              -- float32, unit length
        PRIMARY KEY (content_hash, model)
    ) WITHOUT ROWID;
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: a log of every vector added or removed, so a vector index can tell how far behind the
    # catalog it is and catch up. A vector's id in any index is the seq of its latest 'add'.
    """
    CREATE TABLE vector_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        content_hash TEXT NOT NULL,
        model TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('add', 'del'))
    );
    CREATE INDEX vector_log_content ON vector_log(model, content_hash, seq);
    CREATE INDEX embeddings_model ON embeddings(model);  -- counting one model's vectors without reading them
    INSERT INTO vector_log(content_hash, model, op)
        SELECT content_hash, model, 'add' FROM embeddings ORDER BY model, content_hash;
    CREATE TRIGGER embeddings_added AFTER INSERT ON embeddings BEGIN
        INSERT INTO vector_log(content_hash, model, op) VALUES (new.content_hash, new.model, 'add');
    END;
    CREATE TRIGGER embeddings_removed AFTER DELETE ON embeddings BEGIN
        INSERT INTO vector_log(content_hash, model, op) VALUES (old.content_hash, old.model, 'del');
    END;
    """,
    # 3: capture time and camera from EXIF, for date filters and sorting. Files indexed before
    # have meta_read = 0; the next `picfind index` reads their headers and fills these in.
    """
    ALTER TABLE files ADD COLUMN taken_at TEXT;      -- "YYYY-MM-DD HH:MM:SS", local wall clock
    ALTER TABLE files ADD COLUMN camera TEXT;
    ALTER TABLE files ADD COLUMN meta_read INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: places that could not be read (an unplugged drive, a renamed root, a folder whose
    # permissions changed) keep their files, marked offline, instead of losing them and their
    # vectors; a random id ties the stored vector indexes and thumbnails to this catalog; and a
    # file belongs to the innermost root holding it (overlapping roots flipped it on every run).
    """
    CREATE TABLE offline_places (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
        since REAL NOT NULL
    );
    ALTER TABLE files ADD COLUMN offline INTEGER REFERENCES offline_places(id) ON DELETE SET NULL;
    CREATE INDEX files_offline ON files(offline) WHERE offline IS NOT NULL;
    INSERT OR IGNORE INTO settings(key, value) VALUES ('catalog_id', lower(hex(randomblob(16))));
    """ + reown_sql(),
    # 5: text read from pictures (OCR), per content and OCR model, with a trigram index
    TEXT_MIGRATION,
    # 6: where a picture was taken: the EXIF GPS position and its place names (GeoNames), with
    # place_key, the names folded for `--place` ("|lyon|auvergne rhone alpes|france|fr|"). Files
    # indexed before get meta_read = 0: the next `picfind index` reads their headers again
    # (hashing each file, no decoding, no re-embedding) and fills these in.
    """
    ALTER TABLE files ADD COLUMN lat REAL;            -- degrees north, WGS 84
    ALTER TABLE files ADD COLUMN lon REAL;            -- degrees east
    ALTER TABLE files ADD COLUMN city TEXT;
    ALTER TABLE files ADD COLUMN region TEXT;
    ALTER TABLE files ADD COLUMN country TEXT;
    ALTER TABLE files ADD COLUMN place_key TEXT;
    CREATE INDEX files_lat ON files(lat) WHERE lat IS NOT NULL;
    UPDATE files SET meta_read = 0 WHERE status = 'ok';
    """,
    # 7: videos. A video's file row has its duration (NULL for a picture: `--kind`); its kept
    # frames' vectors are stored in `embeddings` under frame keys ("<hash>@<start ms>-<end ms>").
    # Roots that read the default extensions read the new default, videos included.
    f"""
    ALTER TABLE files ADD COLUMN duration REAL;
    UPDATE roots SET extensions = '{_json(EXTENSIONS)}' WHERE extensions = '{_json(PHOTOS_V1)}';
    """,
    # 8: pad dates: capture times are compared as text, so every year is written in four digits
    # (an older picfind wrote year 999 as "999-...", which sorted after 2024)
    PAD_DATES := """
    UPDATE files SET taken_at = substr('0000' || taken_at, -19)
    WHERE length(taken_at) BETWEEN 16 AND 18
      AND taken_at GLOB '*[0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]';
    """,
    # 9: each model's vector count, kept by triggers: an index run and a search compare the
    # vector index's size with it, and `count(*)` walks every vector's key (0.3 s at 10M).
    """
    CREATE TABLE vector_counts (model TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO vector_counts(model, n) SELECT model, count(*) FROM embeddings GROUP BY model;
    CREATE TRIGGER vector_counted AFTER INSERT ON embeddings BEGIN
        INSERT INTO vector_counts(model, n) VALUES (new.model, 1) ON CONFLICT(model) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER vector_uncounted AFTER DELETE ON embeddings BEGIN
        UPDATE vector_counts SET n = n - 1 WHERE model = old.model;
    END;
    """,
    # 10: faces and people (`picfind.catalogs.faces`): the faces found per picture or video frame
    # and face model (box as fractions of the picture, vector, a small JPEG crop), which
    # contents were searched, and the people faces are grouped into (named by the user or not).
    """
    CREATE TABLE people (
        id INTEGER PRIMARY KEY,
        name TEXT,                         -- NULL until the user names them
        name_key TEXT UNIQUE,              -- the name folded (records.fold): names are looked up by it
        hidden INTEGER NOT NULL DEFAULT 0,
        cover INTEGER,                     -- the face shown for them (NULL: their best)
        created REAL NOT NULL
    );
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL,        -- the picture, or the video, it is in
        frame TEXT NOT NULL,               -- where it was found: the content hash, or a video frame's key
        face_model TEXT NOT NULL,
        x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,
        score REAL NOT NULL,
        quality REAL NOT NULL,
        vector BLOB NOT NULL,              -- float32
        thumb BLOB NOT NULL,               -- JPEG
        person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
        assigned INTEGER NOT NULL DEFAULT 0  -- 1: put in its person by the user, -1: taken out by the user
    );
    CREATE INDEX faces_content ON faces(content_hash);
    CREATE INDEX faces_person ON faces(person_id);
    CREATE TABLE faces_read (
        frame TEXT NOT NULL,
        face_model TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        PRIMARY KEY (frame, face_model)
    ) WITHOUT ROWID;
    CREATE INDEX faces_read_content ON faces_read(content_hash);
    """,
    # 11: camera RAW, AVIF and JPEG XL: roots that read the default extensions read the new default
    f"""
    UPDATE roots SET extensions = '{_json(EXTENSIONS)}' WHERE extensions = '{_json(WITH_VIDEOS_V2)}';
    """,
    # 12: the counts `status` shows, kept by triggers (`tallies`): a status that counted whole
    # tables took seconds at a million pictures
    TALLIES_MIGRATION,
    # 13: the clutter systems and sync tools leave (trash, thumbnails: `records.CLUTTER`) left out
    # of roots added before picfind knew it; the next run drops what was indexed of it
    today_excludes_sql(),
    # 14: each RAW and Live Photo motion recorded as shown with its picture is read again by the
    # next run, which pairs it only with a picture that is itself indexed (`indexing.pairs`; before,
    # any picture of its name beside it hid it: one left out by --ext, unreadable, or deleted since)
    PAIRS_MIGRATION,
]
SCHEMA_VERSION = len(MIGRATIONS)

def statements(script: str) -> Iterator[str]:
    """The statements of a migration script, one at a time (a trigger's body holds several)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""
    if statement.strip():
        yield statement
