"""Indexing: walking the roots, reading and embedding files, writing to a catalog (locally or on Ray)."""
