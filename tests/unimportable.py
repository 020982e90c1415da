"""A Python in which some modules cannot be imported, as if they were not installed: a
`sitecustomize` on PYTHONPATH refuses them, so the real command runs without them (the tests of
picfind without PyAV, rawpy, pi-heif or pylibjxl)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_REFUSE = '''import sys


class Refuse:
    """As if these were not installed: importing one raises ModuleNotFoundError."""

    names = NAMES

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Refuse())
'''


def without(folder: Path, *modules: str) -> dict[str, str]:
    """The environment of a Python that cannot import these modules (its `sitecustomize` written
    into `folder`), checked: each import really fails."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(_REFUSE.replace("NAMES", repr(set(modules))), encoding="utf-8")
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)}
    for name in modules:
        probe = subprocess.run([sys.executable, "-c", f"import {name}"], env={**os.environ, **env},
                               capture_output=True, text=True)
        assert probe.returncode == 1 and f"No module named {name!r}" in probe.stderr  # the refusal is real
    return env
