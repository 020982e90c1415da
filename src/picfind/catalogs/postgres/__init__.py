"""The shared catalog: PostgreSQL with pgvector (`pip install 'picfind[cluster]'`)."""
