"""A model that gives NaN for some video frames: those frames are never stored (PostgreSQL's
vector type would refuse the whole batch, and a NaN scores nothing), the frame before stands on,
and a video none of whose frames has a finite vector is skipped as 'no vector'."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from picfind.indexing.videos import Candidate, keep_moments
from picfind.library import Library
from picfind.models.encoder import Encoder
from picfind.records import frame_span, owner

from .videos import RED_CIRCLE, shapes_video, write_video


def test_keep_moments_never_keeps_a_frame_whose_vector_is_not_finite() -> None:
    a, b = np.eye(4, dtype=np.float32)[:2]
    nan = np.full(4, np.nan, np.float32)
    cands = [Candidate(t, None, None) for t in (0.0, 2.0, 4.0, 6.0)]  # type: ignore[arg-type]
    kept = keep_moments(cands, np.stack([a, nan, b, nan]), 8.0)
    assert [(m.start, m.end) for m in kept] == [(0.0, 4.0), (4.0, 8.0)]
    assert all(np.isfinite(m.vector).all() for m in kept)
    assert keep_moments(cands, np.stack([nan] * 4), 8.0) == []


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "c.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_frames_the_model_gives_nan_for_are_dropped_and_a_video_of_only_those_is_skipped(
        any_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "lib"
    shapes_video(folder / "party.mp4", {4.0: RED_CIRCLE}, 12)  # grey, a red circle on white at 0:04, grey
    write_video(folder / "white.mp4", [(0.0, Image.new("RGB", (160, 160), "white"))], 6, size=(160, 160))
    real = Encoder.encode_images

    def nan_for_bright(self: Encoder, pixels: np.ndarray) -> np.ndarray:
        """The real model, but NaN for bright frames: the circle's white ground, all of white.mp4."""
        out = real(self, pixels)
        out[pixels.mean(axis=(1, 2, 3)) > 0.5] = np.nan  # normalised pixels: grey is about 0
        return out
    monkeypatch.setattr(Encoder, "encode_images", nan_for_bright)
    with Library(any_db, model="tiny-shapes") as lib:
        report = lib.index([str(folder)])
        assert dict(report.skipped) == {"no vector": 1} and report.embedded == 1
        hits = lib.search("a red circle", n=5)
        assert [Path(h.path).name for h in hits] == ["party.mp4"]
        assert all(math.isfinite(h.score) for h in hits)
        keys = lib.catalog.frame_keys("tiny-shapes", hits[0].content_hash)
        assert keys and all(np.isfinite(lib.catalog.vector_of("tiny-shapes", k)).all() for k in keys)
        spans = [frame_span(k) for k in keys]
        assert not any(s[0] == 4.0 for s in spans)  # the circle's frame: dropped, the grey before stands on
        assert spans[0][0] == 0.0 and spans[-1][1] == 12.0 and {owner(k) for k in keys} == {hits[0].content_hash}
