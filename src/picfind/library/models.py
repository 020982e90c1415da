"""The models door: what the faces may do with installed models (list, download, import,
verify, remove), and the errors to expect. `picfind.models.store` does the work; the CLI and the
web reach it only through here (import-linter's faces contract in pyproject.toml)."""

from __future__ import annotations

from picfind.models.bundle import Bundle, BundleError
from picfind.models.store import ModelError, ModelInfo, download, import_folder, list_models, remove, verify

MODEL_ERRORS = (ModelError, BundleError)  # a bad name, a missing or damaged bundle: one line, no traceback

__all__ = ["MODEL_ERRORS", "Bundle", "ModelInfo", "download", "import_folder", "list_models", "remove", "verify"]
