"""The embedded catalog: one SQLite file, its vector indexes and thumbnails beside it."""
