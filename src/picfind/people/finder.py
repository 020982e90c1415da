"""Finding faces and describing them, offline, with dlib's models: the HOG frontal face detector
(compiled into `dlib-bin`, Boost licence), the 5-point landmark model and the ResNet face
descriptor (`face_recognition_models`, public domain: never its 68-point model, which is not for
commercial use). The choice and the settings below were measured (`benchmarks/faces.py`,
docs/people.md): see there what each setting buys.

A picture is searched at `DETECT_SIDE` pixels on its long side (HOG's cost grows with the pixels,
and its smallest face is 80 pixels at the scale it runs at); each face found is aligned by its
five landmarks and described on the picture as decoded (sharper than the detection copy).
Faces too small or too unsure are dropped, and at most `MAX_FACES` are kept (the largest): a
crowd costs bounded time.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from picfind.people.faces import Face, crop_thumb
from picfind.people.settings import FacesUnavailable

DETECT_SIDE = 1024  # the picture's long side for the detector
UPSAMPLE = 0  # the detector's own upsampling (each doubles the side: 4x the time, faces half as small)
MIN_SCORE = 0.0  # HOG's decision value; below this a "face" is most often a pattern in clothes or leaves
MIN_FACE = 0.035  # of the picture's long side: smaller faces are too few pixels to tell people apart
MAX_FACES = 24  # kept per picture, the largest first: a crowd costs bounded time
_PER_THREAD = threading.local()  # dlib frees the GIL while it works, but its networks keep state: one set a thread


def _dlib():
    try:
        import dlib
    except ImportError:
        raise FacesUnavailable("finding faces needs the people extra: pip install 'picfind[people]'") from None
    return dlib


def model_file(name: str) -> Path:
    """A model file inside the `face_recognition_models` package (found without importing it: its
    __init__ needs setuptools' pkg_resources, which new environments lack)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FacesUnavailable("finding faces needs the face models: pip install 'picfind[people]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise FacesUnavailable(f"the face model {name} is missing from face_recognition_models: reinstall it "
                               "(pip install --force-reinstall face_recognition_models==0.3.0)")
    return path


def _models():
    """This thread's detector, landmark model and descriptor (reader threads find faces at once:
    dlib releases the GIL, 1.7x on two cores)."""
    if not hasattr(_PER_THREAD, "models"):
        dlib = _dlib()
        _PER_THREAD.models = (
            dlib.get_frontal_face_detector(),
            dlib.shape_predictor(str(_file("shape_predictor_5_face_landmarks.dat"))),
            dlib.face_recognition_model_v1(str(_file("dlib_face_recognition_resnet_model_v1.dat"))))
    return _PER_THREAD.models


@cache
def _file(name: str) -> Path:
    return model_file(name)


class FaceFinder:
    def __init__(self, detect_side: int = DETECT_SIDE, upsample: int = UPSAMPLE, min_score: float = MIN_SCORE,
                 min_face: float = MIN_FACE, max_faces: int = MAX_FACES) -> None:
        self.detect_side, self.upsample, self.min_score = detect_side, upsample, min_score
        self.min_face, self.max_faces = min_face, max_faces
        _models()  # a missing package or model file is said now, not on the first picture

    def find(self, rgb: np.ndarray) -> list[Face]:
        """The faces in a picture (RGB, upright), largest first."""
        rgb = np.ascontiguousarray(rgb[:, :, :3], dtype=np.uint8)
        height, width = rgb.shape[:2]
        long_side = max(width, height)
        scale = min(2.0, self.detect_side / long_side)  # small pictures up too: HOG sees 80 px faces and larger
        # the detector looks at grey levels: the same faces found as in colour, a quarter less
        # work and fewer false ones (benchmarks/faces.py's labelled set: 53/100 either way, 0 false against 2)
        grey = Image.fromarray(rgb).convert("L")
        small = np.asarray(grey if scale == 1.0 else grey.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR))
        dlib = _dlib()
        detector, landmarks, describer = _models()
        rects, scores, _ = detector.run(small, self.upsample, self.min_score)
        found = []
        for rect, score in zip(rects, scores):
            left, top = rect.left() / scale, rect.top() / scale
            right, bottom = rect.right() / scale, rect.bottom() / scale
            side = max(right - left, bottom - top)
            if side >= self.min_face * long_side:
                found.append((side, float(score), dlib.rectangle(round(left), round(top), round(right), round(bottom))))
        found.sort(key=lambda f: (-f[0], -f[1]))
        found = found[:self.max_faces]
        if not found:
            return []
        shapes = dlib.full_object_detections()
        for _, _, rect in found:
            shapes.append(landmarks(rgb, rect))
        vectors = describer.compute_face_descriptor(rgb, shapes)
        faces = []
        for (side, score, rect), vector in zip(found, vectors):
            left, top = max(0, rect.left()), max(0, rect.top())
            right, bottom = min(width, rect.right()), min(height, rect.bottom())
            box = (left / width, top / height, (right - left) / width, (bottom - top) / height)
            faces.append(Face(box, score, quality(side / long_side, score), np.asarray(vector, np.float32),
                              crop_thumb(rgb, left, top, right, bottom)))
        return faces


def quality(size: float, score: float) -> float:
    """How good a view a face is, for choosing a person's cover: bigger and surer is better."""
    return round(min(size, 0.5) * 2 + max(min(score, 2.0), 0.0) / 2, 4)
