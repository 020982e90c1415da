"""Where models live: the built-in bundles inside the package, and the user's model folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

BUILTIN_DIR = Path(__file__).parent / "bundles"


def models_dir() -> Path:
    return Path(os.environ.get("PICFIND_MODELS_DIR") or Path(platformdirs.user_cache_dir("picfind")) / "models")
