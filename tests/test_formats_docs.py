"""The formats page keeps up with what is installed: every native library a wheel of the default
install, or of an extra, bundles is named on docs/formats.md with its licence; the default install
carries no GPL code (issue 28: PyAV, whose wheels bundle x264 and x265, is the `video` extra) and
leaves out the GPL readers picfind replaced (pillow-heif's x265, the GPL JPEG XL plugin)."""

from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PAGE = (REPO / "docs" / "formats.md").read_text(encoding="utf-8")
EXTRAS = ("video", "ocr", "people", "cluster", "demo")  # what a user installs (`test` is the tests' own)
GPL_ENCODERS = {"libx264", "libx265", "libxvidcore", "libpostproc"}  # FFmpeg's GPL parts, as wheels name them


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def install(requirements: list[str]) -> dict[str, md.Distribution]:
    """The installed distributions these requirements bring (their extras, and picfind's own extras
    named as `picfind[NAME]`, followed), by name; what is not installed here is left out."""
    found: dict[str, md.Distribution] = {}
    seen: set[tuple[str, str]] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name, wanted = _name(req.name), ("", *req.extras)
        if name == "picfind":
            todo += [Requirement(r) for e in req.extras for r in PROJECT["optional-dependencies"][e]]
            continue
        if all((name, e) in seen for e in wanted):
            continue
        seen.update((name, e) for e in wanted)
        try:
            found[name] = md.distribution(req.name)
        except md.PackageNotFoundError:
            continue  # not installed here: nothing to check
        for r in map(Requirement, found[name].requires or []):
            if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in wanted):
                todo.append(r)
    return found


def default_install() -> dict[str, md.Distribution]:
    """What a plain `pip install picfind` brings (no extras)."""
    return install(PROJECT["dependencies"])


def extra_install(extra: str) -> dict[str, md.Distribution]:
    """What `pip install 'picfind[EXTRA]'` adds to the default install."""
    default = default_install()
    return {k: v for k, v in install([f"picfind[{extra}]"]).items() if k not in default}


def bundled(dist: md.Distribution) -> set[str]:
    """The native libraries a wheel ships, by name (`libx265`): those in its `.libs` folder
    (auditwheel's), and its own `lib*.so` (rawpy's LibRaw, onnxruntime's); not Python modules."""
    names = set()
    for f in dist.files or []:
        if ".so" not in f.name or ".cpython-" in f.name or ".abi3." in f.name:
            continue
        lib = re.match(r"lib[A-Za-z0-9_+]+", f.name)
        if lib or ".libs/" in str(f):
            names.add(lib.group(0) if lib else f.name)
    return names


def section(anchor: str) -> str:
    """The text of the page's section with this anchor (`{#licences}`), up to the next section."""
    return PAGE.split(f"{{#{anchor}}}", 1)[1].split("\n## ", 1)[0]


def rows(text: str) -> list[list[str]]:
    """The cells of each row of the tables in this text (header and rule left out)."""
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
             if line.startswith("|") and not line.startswith("|---")]
    return cells[1:] if cells else []


def licences(cell: str) -> dict[str, str]:
    """Each library a table cell names, with the licence in the parentheses after it: in
    "`libwebp` `libwebpmux` (BSD-3-Clause)" both are BSD-3-Clause."""
    out: dict[str, str] = {}
    waiting: list[str] = []
    for m in re.finditer(r"`([^`]+)`|\(([^()]*)\)", cell):
        if m.group(1):
            waiting.append(m.group(1))
        else:
            out.update(dict.fromkeys(waiting, m.group(2)))
            waiting = []
    return out


def gpl_only(licence: str) -> bool:
    """Whether a licence is the GPL (or AGPL) with no way out: the LGPL, a choice ("LGPL-3.0 or
    GPL-2.0", "FreeType License, or GPL-2.0") and the GCC runtime's exception are ways out."""
    gpl = re.search(r"(?<!L)GPL|(?<!Lesser )(?<!Library )General Public", licence)
    return bool(gpl) and not re.search(r"\sor\s|Exception", licence)


def declared(dist: md.Distribution) -> list[str]:
    """The licences a distribution's metadata declares (expression, field, classifiers)."""
    meta = dist.metadata
    return [t for t in (meta.get("License-Expression"), (meta.get("License") or "")[:200],
                        *(c for c in meta.get_all("Classifier") or [] if c.startswith("License"))) if t]


def test_every_bundled_library_of_the_default_install_is_named_with_its_licence():
    named = {lib for row in rows(section("licences")) for lib in licences(row[-1])}
    installed = default_install()
    assert {"pillow", "pi-heif", "rawpy", "pylibjxl", "onnxruntime"} <= set(installed)
    missing = {name: sorted(bundled(dist) - named) for name, dist in installed.items()}
    missing = {k: v for k, v in missing.items() if v}
    assert not missing, f"docs/formats.md#licences does not name these bundled libraries: {missing}"


def compiled(dist: md.Distribution) -> bool:
    """Whether a distribution holds compiled code: an extension module or a shared library."""
    return any(re.search(r"\.(so|pyd|dylib)(\.|$)", f.name) for f in dist.files or [])


def test_every_package_of_the_default_install_with_compiled_code_has_a_row():
    """hf-xet (Rust, with AWS-LC inside) came with the default install, but the table, which counts
    every package it does not name as pure Python, left it out (and protobuf, PyYAML, wcwidth)."""
    named = {_name(part.strip()) for row in rows(section("licences"))
             for part in re.sub(r"\(.*?\)", "", row[0]).split(",")}  # "tokenizers, usearch, annoy"
    unnamed = sorted(name for name, dist in default_install().items() if compiled(dist) and name not in named)
    assert not unnamed, f"docs/formats.md#licences counts these as pure Python, but they hold compiled code: {unnamed}"


def test_the_default_install_carries_no_gpl_code():
    """Issue 28: av was a default dependency, and its wheels bundle libx264 and libx265."""
    by_library = {lib: lic for row in rows(section("licences")) for lib, lic in licences(row[-1]).items()}
    installed = default_install()
    assert "av" not in installed, "PyAV (x264, x265: GPL) belongs to the `video` extra"
    gpl = {f"{name}: {lib} ({by_library.get(lib)})" for name, dist in installed.items() for lib in bundled(dist)
           if lib in GPL_ENCODERS or gpl_only(by_library.get(lib, ""))}
    gpl |= {f"{name}: {text}" for name, dist in installed.items() for text in declared(dist) if gpl_only(text)}
    assert not gpl, f"the default install carries GPL code: {sorted(gpl)}"


def test_the_gpl_check_knows_a_gpl_licence_from_its_ways_out():
    assert gpl_only("GPL-2.0-or-later") and gpl_only("License :: OSI Approved :: GNU General Public License v2 (GPLv2)")
    assert gpl_only("AGPL-3.0-only")
    for free in ("LGPL-3.0", "LGPL-3.0 or GPL-2.0", "FreeType License, or GPL-2.0 at the user's choice",
                 "GPL-3.0 with the GCC Runtime Library Exception", "lgpl", "MIT",
                 "License :: OSI Approved :: GNU Library or Lesser General Public License (LGPL)"):
        assert not gpl_only(free), free


@pytest.mark.parametrize("extra", EXTRAS)
def test_each_extra_names_its_packages_and_what_they_bundle(extra: str):
    """docs/formats.md#extras says which extra brings which licence: a row per package it adds."""
    table = [row for row in rows(section("extras")) if row[0] == f"`{extra}`"]
    assert table, f"docs/formats.md#extras has no row for the `{extra}` extra"
    listed = {_name(w) for row in table for w in re.findall(r"[\w.-]+", row[1])}
    named = {lib for row in table for lib in licences(row[-1])}
    added = extra_install(extra)
    if not added:
        pytest.skip(f"the {extra} extra is not installed here")
    with_code = {name for name, dist in added.items() if bundled(dist)}
    assert with_code <= listed, f"the {extra} extra's packages with native code not listed: {with_code - listed}"
    missing = {name: sorted(bundled(dist) - named) for name, dist in added.items()}
    missing = {k: v for k, v in missing.items() if v}
    assert not missing, f"docs/formats.md#extras does not name what the {extra} extra bundles: {missing}"


def test_the_video_extra_is_where_the_gpl_encoders_are():
    video = {lib: lic for row in rows(section("extras")) if row[0] == "`video`"
             for lib, lic in licences(row[-1]).items()}
    assert gpl_only(video["libx264"]) and gpl_only(video["libx265"])
    assert [_name(Requirement(r).name) for r in PROJECT["optional-dependencies"]["video"]] == ["av"]
    assert "picfind[video]" in PROJECT["optional-dependencies"]["test"]  # `make test` runs the video tests


def test_the_default_install_leaves_out_the_gpl_readers():
    installed = default_install()
    assert "pillow-heif" not in installed and "pillow-jxl-plugin" not in installed
    assert not any(lib in GPL_ENCODERS for dist in installed.values() for lib in bundled(dist))
