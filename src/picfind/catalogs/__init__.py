"""Where vectors and file records live. `opening.open_catalog` picks a backend by the `--db` value;
every backend answers `protocol.CatalogBackend`."""
