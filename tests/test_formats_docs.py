"""The formats page keeps up with what is installed: every native library a wheel of the default
install bundles is named on docs/formats.md with its licence, and the default install leaves out
the GPL readers picfind replaced (pillow-heif's x265, the GPL JPEG XL plugin)."""

from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parent.parent


def default_install() -> dict[str, md.Distribution]:
    """The installed distributions a plain `pip install picfind` brings (no extras), by name."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    found: dict[str, md.Distribution] = {}
    todo = [Requirement(d) for d in deps]
    while todo:
        req = todo.pop()
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in found or req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            found[name] = md.distribution(req.name)
        except md.PackageNotFoundError:
            continue  # not installed here: nothing to check
        todo += [Requirement(r) for r in found[name].requires or []]
    return found


def bundled(dist: md.Distribution) -> set[str]:
    """The native libraries in a wheel's `.libs` folder (auditwheel's), by name: `libx265`."""
    names = set()
    for f in dist.files or []:
        if ".libs/" in str(f) and ".so" in f.name:
            names.add(re.match(r"lib[A-Za-z0-9_+]+", f.name).group(0) if f.name.startswith("lib") else f.name)
    return names


def test_every_bundled_library_of_the_default_install_is_named_with_its_licence():
    page = (REPO / "docs" / "formats.md").read_text(encoding="utf-8")
    installed = default_install()
    assert {"pillow", "pi-heif", "rawpy", "pylibjxl", "av"} <= set(installed)
    missing = {name: sorted(lib for lib in bundled(dist) if f"`{lib}`" not in page)
               for name, dist in installed.items()}
    missing = {k: v for k, v in missing.items() if v}
    assert not missing, f"docs/formats.md does not name these bundled libraries: {missing}"


def test_the_default_install_leaves_out_the_gpl_readers():
    installed = default_install()
    assert "pillow-heif" not in installed and "pillow-jxl-plugin" not in installed
    assert not any(lib == "libx265" for name, dist in installed.items() if name != "av" for lib in bundled(dist))
