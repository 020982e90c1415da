"""Bytes to pixels: file types, safe opening, decoding and thumbnails. No catalog, no model."""
