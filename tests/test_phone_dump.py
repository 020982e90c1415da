"""A phone's dump as people copy it: the clutter systems and sync tools leave beside the
pictures is not indexed, and place names are the ones people say."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import shape_files
from .test_first_hour import cli


def test_clutter_is_left_out_by_default_and_can_be_kept(tmp_path: Path) -> None:
    """`DCIM/.thumbnails/`, `.trashed-*`, `.Trash-*`, `.stversions`, `.picasaoriginals` showed up
    in search and dupes."""
    lib = tmp_path / "Phone"
    img = shape_files("red", "circle", n=1, size=64)[0]
    real = lib / "DCIM" / "Camera" / "PXL_1.jpg"
    clutter = ["DCIM/.thumbnails/1.jpg", "DCIM/Camera/.trashed-1700000000-PXL_2.jpg", ".Trash-1000/files/x.jpg",
               ".stversions/a~20240101.jpg", "Pictures/.picasaoriginals/b.jpg", "@eaDir/PXL_1.jpg/THUMB_XL.jpg",
               ".cache/y.jpg", "$RECYCLE.BIN/z.jpg", ".pending-1700000000-PXL_3.jpg"]
    for rel in [str(real.relative_to(lib)), *clutter]:
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(lib / rel)
    (lib / "DCIM" / "Camera" / "._PXL_1.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(100))  # AppleDouble
    db = str(tmp_path / "c.db")
    code, out, err = cli("index", str(lib), "--json", "--db", db)
    report = json.loads(out)
    assert code == 0 and report["files_seen"] == 1 and report["embedded"] == 1 and not report["skipped"], report
    code, out, _ = cli("roots", "--json", "--db", db)
    assert {".trashed-*", ".thumbnails", "._*", ".stversions"} <= set(json.loads(out)[0]["excludes"])
    code, out, _ = cli("index", str(lib), "--no-default-excludes", "--json", "--db", db)
    assert json.loads(out)["files_seen"] == 2 + len(clutter)  # kept on purpose (the AppleDouble skipped)
