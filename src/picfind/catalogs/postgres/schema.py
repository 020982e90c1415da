"""Opening the PostgreSQL catalog, and its schema: named, numbered steps, each applied in one
transaction under an advisory lock (two clients opening a new database at once wait for each
other) and recorded in `picfind_schema`. A database newer than this picfind is refused; a
connection that fails is one line without the password.

The same tables as the SQLite schema (offline places and OCR texts included), with these
differences, and why: vectors are pgvector `vector` columns (an HNSW index
per model is made by `PgCatalog.sync_index` after bulk loads); a file's extension and local
modification time are stored when written, so filters are plain comparisons; thumbnails live in
the database, so every client sees the same library; `claims` holds the leases that keep two
indexers from embedding one content twice; OCR texts carry their trigrams for a GIN index
(`picfind.catalogs.postgres.text`: no pg_trgm needed).
"""

from __future__ import annotations

import json
import re

import psycopg
from pgvector.psycopg import register_vector

from picfind.catalogs.postgres.search import EF_SEARCH
from picfind.catalogs.postgres.tallies import MIGRATION as PGTALLIES_MIGRATION
from picfind.catalogs.postgres.text import MIGRATION as PGTEXT_MIGRATION
from picfind.media.formats import EXTENSIONS, LIVE_MOTION, PHOTOS_V1, RAW_WITH_JPEG, WITH_VIDEOS_V2
from picfind.records import DEFAULT_EXCLUDES, DEFAULT_EXCLUDES_V1, CatalogError

# the default excludes before the clutter list and today's, as JSON text without its closing `]`,
# and what follows the old ones in a root's list: `]`, or `, "..."` the user's own
_V1, _TODAY = (json.dumps(list(d))[:-1] for d in (DEFAULT_EXCLUDES_V1, DEFAULT_EXCLUDES))
_AFTER_V1 = f"substr(excludes, {len(_V1) + 1})"

MIGRATIONS: list[tuple[str, str]] = [
    ("m001_initial", """
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE TABLE roots (
        id bigserial PRIMARY KEY,
        path bytea NOT NULL UNIQUE,
        extensions text NOT NULL,          -- JSON list, lower case, no dots
        excludes text NOT NULL,            -- JSON list of glob patterns
        added_at double precision NOT NULL
    );
    CREATE TABLE offline_places (          -- places that could not be read: their files are kept
        id bigserial PRIMARY KEY,
        path bytea NOT NULL UNIQUE,
        root_id bigint NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
        since double precision NOT NULL
    );
    CREATE TABLE files (
        id bigserial PRIMARY KEY,
        path bytea NOT NULL UNIQUE,
        root_id bigint NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
        size bigint NOT NULL,
        mtime_ns bigint NOT NULL,
        mtime_local text NOT NULL,         -- "YYYY-MM-DD HH:MM:SS" on the writer's clock, for date filters
        ext text NOT NULL,                 -- lower case, no dot
        content_hash text,
        status text NOT NULL CHECK (status IN ('ok', 'skipped')),
        reason text,
        detail text,
        width integer,
        height integer,
        taken_at text,
        camera text,
        meta_read boolean NOT NULL DEFAULT false,
        offline bigint REFERENCES offline_places(id) ON DELETE SET NULL
    );
    CREATE INDEX files_offline ON files(offline) WHERE offline IS NOT NULL;
    CREATE INDEX files_content_hash ON files(content_hash);
    CREATE INDEX files_root ON files(root_id);
    CREATE TABLE embeddings (
        id bigserial PRIMARY KEY,          -- the vector's id (near-duplicate search)
        content_hash text NOT NULL,
        model text NOT NULL,
        vector vector NOT NULL,            -- float32, unit length
        UNIQUE (content_hash, model)
    );
    CREATE TABLE claims (
        content_hash text NOT NULL,
        model text NOT NULL,
        holder_pid integer NOT NULL,       -- the holder's server process: once gone, the lease is free
        expires timestamptz NOT NULL,
        done boolean NOT NULL DEFAULT false,
        PRIMARY KEY (content_hash, model)
    );
    CREATE TABLE thumbnails (content_hash text PRIMARY KEY, jpeg bytea NOT NULL);
    CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL);
    """),
    ("m002_ocr_texts", PGTEXT_MIGRATION),
    # Where a picture was taken (as in the SQLite catalog's step 6): files indexed before get
    # meta_read = false, so the next `picfind index` reads their headers again (no re-embedding).
    # picfind_km is the near filter's distance (haversine, km), as the SQLite catalog defines it.
    ("m003_places", """
    ALTER TABLE files ADD COLUMN lat double precision;
    ALTER TABLE files ADD COLUMN lon double precision;
    ALTER TABLE files ADD COLUMN city text;
    ALTER TABLE files ADD COLUMN region text;
    ALTER TABLE files ADD COLUMN country text;
    ALTER TABLE files ADD COLUMN place_key text;   -- names folded: "|lyon|auvergne rhone alpes|france|fr|"
    CREATE INDEX files_lat ON files(lat) WHERE lat IS NOT NULL;
    UPDATE files SET meta_read = false WHERE status = 'ok';
    CREATE FUNCTION picfind_km(lat1 double precision, lon1 double precision, lat2 double precision,
                               lon2 double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT 2 * 6371.0088 * asin(least(1.0, sqrt(power(sin(radians(lat2 - lat1) / 2), 2)
            + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lon2 - lon1) / 2), 2))))
    $$;
    """),
    # Videos: a video's file row has its duration (NULL for a picture); its kept frames' vectors
    # are stored under frame keys ("<hash>@<start ms>-<end ms>", `records.frame_key`), and
    # `owner` names the content each vector belongs to (the video's hash; a picture's own).
    # Roots that read the default extensions read the new default, videos included.
    ("m004_videos", f"""
    ALTER TABLE files ADD COLUMN duration double precision;
    ALTER TABLE embeddings ADD COLUMN owner text GENERATED ALWAYS AS (split_part(content_hash, '@', 1)) STORED;
    CREATE INDEX embeddings_owner ON embeddings(owner);
    UPDATE roots SET extensions = '{json.dumps(list(EXTENSIONS))}'
        WHERE extensions = '{json.dumps(list(PHOTOS_V1))}';
    """),
    # dates are compared as text: every year in four digits (an older picfind wrote 999 as "999-")
    ("m005_pad_dates", """
    UPDATE files SET taken_at = lpad(taken_at, 19, '0') WHERE taken_at ~ '^[0-9]{1,3}-[0-9]{2}-[0-9]{2} ';
    UPDATE files SET mtime_local = lpad(mtime_local, 19, '0') WHERE mtime_local ~ '^[0-9]{1,3}-[0-9]{2}-[0-9]{2} ';
    """),
    # faces and people (`picfind.catalogs.faces`), as the SQLite catalog's step 9; face vectors are
    # pgvector columns
    ("m006_faces", """
    CREATE TABLE people (
        id bigserial PRIMARY KEY,
        name text,
        name_key text UNIQUE,
        hidden integer NOT NULL DEFAULT 0,
        cover bigint,
        created double precision NOT NULL
    );
    CREATE TABLE faces (
        id bigserial PRIMARY KEY,
        content_hash text NOT NULL,
        frame text NOT NULL,
        face_model text NOT NULL,
        x double precision NOT NULL, y double precision NOT NULL,
        w double precision NOT NULL, h double precision NOT NULL,
        score double precision NOT NULL,
        quality double precision NOT NULL,
        vector vector(128) NOT NULL,
        thumb bytea NOT NULL,
        person_id bigint REFERENCES people(id) ON DELETE SET NULL,
        assigned integer NOT NULL DEFAULT 0
    );
    CREATE INDEX faces_content ON faces(content_hash);
    CREATE INDEX faces_person ON faces(person_id);
    CREATE TABLE faces_read (
        frame text NOT NULL,
        face_model text NOT NULL,
        content_hash text NOT NULL,
        PRIMARY KEY (frame, face_model)
    );
    CREATE INDEX faces_read_content ON faces_read(content_hash);
    """),
    # camera RAW, AVIF and JPEG XL: roots that read the default extensions read the new default
    ("m007_raw_avif_jxl", f"""
    UPDATE roots SET extensions = '{json.dumps(list(EXTENSIONS))}'
        WHERE extensions = '{json.dumps(list(WITH_VIDEOS_V2))}';
    """),
    # the counts `status` shows, kept by triggers (`picfind.catalogs.postgres.tallies`), counted once here
    ("m008_tallies", PGTALLIES_MIGRATION),
    # the clutter systems and sync tools leave (`records.CLUTTER`) left out of roots added before
    # picfind knew it, as the SQLite catalog's step 13: the old defaults, then `]` or the user's own
    ("m009_clutter_excludes", f"""
    UPDATE roots SET excludes = '{_TODAY}' || {_AFTER_V1}
        WHERE left(excludes, {len(_V1)}) = '{_V1}' AND ({_AFTER_V1} = ']' OR left({_AFTER_V1}, 2) = ', ');
    """),
    # each RAW and Live Photo motion recorded as shown with its picture is read again by the next
    # run, which pairs it only with a picture that is itself indexed (`picfind.indexing.pairs`)
    ("m010_pairs_read_again", f"""
    UPDATE files SET mtime_ns = -1 WHERE status = 'skipped' AND reason IN ('{RAW_WITH_JPEG}', '{LIVE_MOTION}');
    """),
]
SCHEMA_VERSION = len(MIGRATIONS)
LOCK_KEY = 0x70696366  # "picf": the advisory lock taken while migrating


def redact(url: str) -> str:
    """A connection URL without its password, for messages and `status`."""
    url = re.sub(r"(://[^:/@?]*):[^@/?]*@", r"\1:***@", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


def connect(url: str, location: str) -> psycopg.Connection:
    """A connection to the catalog at `url`, its schema brought up to date, vectors as numpy
    arrays; any failure is one `CatalogError` naming `location` (never the password)."""
    try:
        db = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="picfind")
    except psycopg.Error as e:
        raise _connection_error(location, e) from None
    try:
        _migrate(db, location)
        register_vector(db)
        db.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
    except psycopg.Error as e:
        db.close()
        raise _connection_error(location, e) from None
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: psycopg.Connection, location: str) -> None:
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        db.execute("CREATE TABLE IF NOT EXISTS picfind_schema (version integer PRIMARY KEY, "
                   "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        version = db.execute("SELECT coalesce(max(version), 0) FROM picfind_schema").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CatalogError(f"the catalog {location} has schema version {version}, newer than this "
                               f"picfind understands ({SCHEMA_VERSION}): upgrade picfind")
        for number in range(version, SCHEMA_VERSION):
            name, script = MIGRATIONS[number]
            try:
                with db.transaction():  # a savepoint: the step is applied whole or not at all
                    db.execute(script)
                    db.execute("INSERT INTO picfind_schema(version, name) VALUES (%s, %s)", (number + 1, name))
            except (psycopg.errors.UndefinedFile, psycopg.errors.FeatureNotSupported) as e:
                raise CatalogError(f"the PostgreSQL server of {location} has no pgvector extension "
                                   f"({' '.join(str(e).split())}): install pgvector on the server") from None
            except psycopg.errors.InsufficientPrivilege as e:  # pgvector is not a trusted extension
                raise CatalogError(f"cannot set up the catalog {location}: {' '.join(str(e).split())}: a "
                                   "PostgreSQL superuser must run once: psql -d "
                                   f"{db.info.dbname} -c 'CREATE EXTENSION vector'") from None


def _connection_error(location: str, e: psycopg.Error) -> CatalogError:
    lines = [line.strip() for line in str(e).splitlines() if line.strip() and not line.strip().startswith("Is the")]
    reason = redact(" ".join(lines)) or type(e).__name__
    hint = next((h for pattern, h in _HINTS if re.search(pattern, reason)),
                "check the server, the user and password in --db (or ~/.pgpass) and the database name")
    return CatalogError(f"cannot use the PostgreSQL catalog {location}: {reason} ({hint})")


_HINTS = [  # what to do, by what libpq said
    ("password authentication failed|no password supplied",
     "check the user and password in --db, PGPASSWORD or ~/.pgpass"),
    ('role "[^"]*" does not exist', "ask the server's admin for that user, or fix the user in --db"),
    ('database "[^"]*" does not exist', "create the database (createdb NAME) or fix its name in --db"),
    ("Connection refused|No such file or directory|resolve host|timeout expired|No route to host",
     "is the server running, and reachable at that host and port?"),
]
