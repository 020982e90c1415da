"""A Python changed at its start by a `sitecustomize` on PYTHONPATH, for the real command to run
in: one in which some modules cannot be imported, as if they were not installed (the tests of
picfind without PyAV, rawpy, pi-heif or pylibjxl), or one with a Pillow plugin of the test's."""

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


def python_with(folder: Path, source: str) -> dict[str, str]:
    """The environment of a Python that runs `source` as it starts (its `sitecustomize`, written
    into `folder`), and so does every Python started from it."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(source, encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)}


def without(folder: Path, *modules: str) -> dict[str, str]:
    """The environment of a Python that cannot import these modules, checked: each import really fails."""
    env = python_with(folder, _REFUSE.replace("NAMES", repr(set(modules))))
    for name in modules:
        probe = subprocess.run([sys.executable, "-c", f"import {name}"], env={**os.environ, **env},
                               capture_output=True, text=True)
        assert probe.returncode == 1 and f"No module named {name!r}" in probe.stderr  # the refusal is real
    return env
