"""The PostgreSQL catalog's schema: named, numbered steps, each applied in one transaction under
an advisory lock (two clients opening a new database at once wait for each other) and recorded
in `picfind_schema`. A database newer than this picfind is refused.

The same tables as the SQLite schema up to its migration 4 (offline places included), with these
differences, and why: vectors are pgvector `vector` columns (an HNSW index
per model is made by `PgCatalog.sync_index` after bulk loads); a file's extension and local
modification time are stored when written, so filters are plain comparisons; thumbnails live in
the database, so every client sees the same library; `claims` holds the leases that keep two
indexers from embedding one content twice.
"""

from __future__ import annotations

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
]
SCHEMA_VERSION = len(MIGRATIONS)
LOCK_KEY = 0x70696366  # "picf": the advisory lock taken while migrating
