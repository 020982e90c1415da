"""Video indexing speed: picfind's sampler against the naive design, side by side in one run.

Footage is made here with PyAV from real photos (scikit-image's and scikit-learn's), like a phone
films: a slow pan and zoom over each photo, sensor-like noise on every frame (so the encoder
spends a phone's bitrate on it), 30 fps, a key frame every second; with hidden moments, a few
seconds where one of the tiny-shapes model's scenes fills the frame ("a red circle"). Formats:

* h264-1080p: H.264 1920x1080 at 16 Mbit/s (a phone's 1080p30),
* hevc10-4k: HEVC 10-bit 3840x2160 at 40 Mbit/s (10 s at most: x265 is slow to encode here),
* vp9-720p: VP9 1280x720 at 5 Mbit/s,
* h264-1080p-sparse: the first with a key frame every 3.33 s, none at the cuts (as messengers
  re-encode clips),
* h264-1080p-x4: the first, its packets repeated four times (4x as long, no re-encoding): memory
  must stay flat in video length.

Each pipeline runs in its own process (its peak memory is its own), on the same files:

* picfind: `media.video.sample` (key frames only, scaled by swscale) -> encoder -> frames kept
  when their embedding changes (`indexing.videos.embed_moments`);
* picfind-ocr: picfind's, as `index --ocr` runs it: frames decoded at OCR's size
  (`ocr.analysis.OCR_MIN_SIDE`), each candidate's kept as a JPEG, and the kept frames' text read by
  the default OCR model (`indexing.videos.analyse_moments`; the OCR model loaded before the clock);
* picfind-keys: picfind's before a late sample was decoded forward from the key frame before it
  (key frames only, however far apart): the baseline for `h264-1080p-sparse`;
* naive: decode every frame, convert each second's first frame to RGB at full size, preprocess
  it and embed it (one a second, in batches).

Reported per format and pipeline: seconds of video per second of wall time (x real time) and per
second of CPU time (what other work on a shared machine disturbs less),
frames decoded and embedded per minute of video, frames kept, peak memory of the pipeline (above
the process's after loading the model), and whether each
hidden moment is found (the best-scoring frame for its caption lies inside it; tiny-shapes only:
a random model finds nothing).

    .venv/bin/python benchmarks/video.py [--seconds 60] [--models tiny-shapes,vit-b-32-random]
                                         [--formats h264-1080p,hevc10-4k,vp9-720p,h264-1080p-x4]

vit-b-32-random (the default model's shapes, random weights) is built on first use into
benchmarks/.cache/ (needs torch); the footage is cached there too. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

CACHE = HERE / ".cache" / "video"
FPS = 30
# format -> (codec, pixel format, size, bit rate, options)
FORMATS = {
    "h264-1080p": ("libx264", "yuv420p", (1920, 1080), 16_000_000, {"preset": "ultrafast"}, "mp4"),
    "hevc10-4k": ("libx265", "yuv420p10le", (3840, 2160), 40_000_000, {"preset": "ultrafast",
                                                                        "x265-params": "log-level=error"}, "mp4"),
    "vp9-720p": ("libvpx-vp9", "yuv420p", (1280, 720), 5_000_000, {"deadline": "realtime", "cpu-used": "8"}, "webm"),
    # as messengers re-encode: a key frame every 3.33 s, none at the cuts
    "h264-1080p-sparse": ("libx264", "yuv420p", (1920, 1080), 16_000_000,
                          {"preset": "ultrafast", "x264-params": "keyint=100:min-keyint=100:scenecut=0"}, "mp4"),
}
# (where it starts, as a share of the clip; scene): a shape scene fills the frame for a fifth of
# the clip, at most 3 s (and at least the 2 s between samples)
MOMENTS = [(0.20, ("circle", "red")), (0.45, ("square", "blue")), (0.70, ("triangle", "green"))]


# footage ----------------------------------------------------------------------------------------------

def footage(fmt: str, seconds: float) -> tuple[Path, list[dict]]:
    """The clip of this format (made once, cached) and its hidden moments."""
    if fmt.endswith("-x4"):
        base, moments = footage(fmt[:-3], seconds)
        return repeated(base, 4), moments
    length = seconds if fmt != "hevc10-4k" else min(seconds, 10.0)
    codec, pix_fmt, size, rate, options, ext = FORMATS[fmt]
    path = CACHE / f"{fmt}-{length:g}s.{ext}"
    moments = [{"start": round(f * length, 2), "end": round(f * length + _moment_length(length), 2),
                "caption": f"a {c} {s}"} for f, (s, c) in MOMENTS]
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        write_clip(path.with_suffix(".part" + path.suffix), codec, pix_fmt, size, rate, options, length)
        path.with_suffix(".part" + path.suffix).rename(path)
        print(f"made {path.name}: {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s",
              flush=True)
    return path, moments


def _moment_length(seconds: float) -> float:
    return min(3.0, seconds / 5)


def write_clip(path: Path, codec: str, pix_fmt: str, size: tuple[int, int], rate: int, options: dict,
               seconds: float) -> None:
    import av
    from conftest import real_photos
    from PIL import Image

    from picfind.models.shapes import Scene, render

    w, h = size
    photos = [Image.fromarray(a).convert("RGB") for a in real_photos().values()]
    scene_len = 8.0
    rng = np.random.default_rng(0)
    noise = [rng.normal(0, 5, (h, w, 3)).astype(np.int16) for _ in range(4)]  # a bank, cycled and shifted
    shapes = []
    n = _moment_length(seconds)
    for f, (shape, colour) in MOMENTS:
        img = render(Scene(shape, colour, 1, "white"), 512, __import__("random").Random(1))
        canvas = Image.new("RGB", size, (245, 245, 245))
        side = h
        canvas.paste(img.resize((side, side)), ((w - side) // 2, 0))
        shapes.append((f * seconds, f * seconds + n, np.asarray(canvas)))
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.bit_rate = rate
        stream.codec_context.gop_size = 100 if "keyint=100" in str(options) else FPS  # a second, as phones write
        stream.options = options
        for i in range(int(seconds * FPS)):
            t = i / FPS
            shown = next((arr for start, end, arr in shapes if start <= t < end), None)
            if shown is None:
                photo = photos[int(t // scene_len) % len(photos)]
                shown = np.asarray(ken_burns(photo, size, (t % scene_len) / scene_len))
            grain = np.roll(noise[i % 4], (i * 7) % h, axis=0)
            arr = np.clip(shown.astype(np.int16) + grain, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def ken_burns(photo, size: tuple[int, int], progress: float):
    """A window moving and zooming slowly across the photo, at the frame's size."""
    from PIL import Image

    w, h = size
    pw, ph = photo.size
    zoom = 0.75 + 0.2 * progress
    cw = min(pw, ph * w / h) * zoom
    ch = cw * h / w
    x = (pw - cw) * progress
    y = (ph - ch) * (1 - progress) / 2
    return photo.resize(size, Image.Resampling.BILINEAR, box=(x, y, x + cw, y + ch))


def repeated(path: Path, times: int) -> Path:
    """The clip's packets `times` over, time-shifted: a longer video without encoding it again."""
    import av

    out_path = path.with_name(f"{path.stem}-x{times}{path.suffix}")
    if out_path.exists():
        return out_path
    with av.open(str(path)) as src, av.open(str(out_path), "w") as out:
        ins = src.streams.video[0]
        outs = out.add_stream_from_template(ins)
        packets = [p for p in src.demux(ins) if p.size]
        step = max(p.pts + (p.duration or 0) for p in packets) - min(p.pts for p in packets)
        for k in range(times):
            for p in packets:
                q = av.Packet(bytes(p))
                q.pts, q.dts, q.duration = p.pts + k * step, p.dts + k * step, p.duration
                q.is_keyframe, q.time_base, q.stream = p.is_keyframe, p.time_base, outs
                out.mux(q)
    return out_path


# the pipelines (each in its own process) --------------------------------------------------------------

def picfind_pipeline(path: Path, encoder, keys_only: bool = False) -> tuple[list[tuple[float, np.ndarray]], int, int]:
    """`keys_only`: the sampler as it was before samples were decoded forward from a key frame
    (`media.videoseek.LATE`): key frames only, however late."""
    from picfind.indexing.videos import candidate, embed_moments
    from picfind.media import videoseek
    from picfind.media.video import open_video, sample

    if keys_only:
        videoseek.LATE = float("inf")

    prep = encoder.bundle.preprocessing
    with open_video(str(path)) as f:
        got = sample(f, prep.size, time_limit=3600, convert=lambda frame: candidate(frame, prep, True))
    kept, runs = embed_moments(encoder.encode_images, prep, got.frames, got.info.duration, 16)
    return [(m.start, m.vector) for m in kept], got.decoded, runs


def picfind_ocr_pipeline(path: Path, encoder, reader) -> tuple[list[tuple[float, np.ndarray]], int, int]:
    from picfind.indexing.videos import analyse_moments, candidate, embed_moments, kept_frames
    from picfind.media.video import open_video, sample
    from picfind.ocr.analysis import OCR_MIN_SIDE, TextAnalysis

    prep = encoder.bundle.preprocessing
    with open_video(str(path)) as f:
        got = sample(f, max(prep.size, OCR_MIN_SIDE), time_limit=3600,
                     convert=lambda frame: candidate(frame, prep, True, True))
    kept, runs = embed_moments(encoder.encode_images, prep, got.frames, got.info.duration, 16)
    analyse_moments([TextAnalysis(reader)], kept_frames("clip", kept))
    return [(m.start, m.vector) for m in kept], got.decoded, runs


def naive_pipeline(path: Path, encoder) -> tuple[list[tuple[float, np.ndarray]], int, int]:
    import av

    prep = encoder.bundle.preprocessing
    picked: list[tuple[float, np.ndarray]] = []
    decoded, next_second = 0, 0.0
    batch: list[tuple[float, np.ndarray]] = []
    out: list[tuple[float, np.ndarray]] = []

    def flush() -> None:
        if batch:
            vectors = encoder.encode_images(np.stack([p for _, p in batch]))
            out.extend((t, v) for (t, _), v in zip(batch, vectors))
            batch.clear()
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            decoded += 1
            if frame.time is not None and frame.time + 1e-3 >= next_second:
                batch.append((next_second, prep.pixels(frame.to_image())))
                next_second += 1.0
                if len(batch) == 16:
                    flush()
    flush()
    picked = out
    return picked, decoded, len(picked)


def child(pipeline: str, path: str, model: str, queries: list[str]) -> None:
    """Run one pipeline on one file; print one JSON line."""
    from picfind.models.encoder import Encoder
    from picfind.models.store import resolve

    encoder = Encoder(resolve(model), threads=os.cpu_count() or 2)
    encoder.encode_images(np.zeros((1, 3, encoder.bundle.preprocessing.size, encoder.bundle.preprocessing.size),
                                   np.float32))  # loaded before the clock starts
    texts = {q: encoder.encode_text(q) for q in queries}
    reader = None
    if pipeline == "picfind-ocr":
        from picfind.ocr.reader import TextReader

        reader = TextReader(threads=os.cpu_count() or 2)
        reader.read(np.zeros((64, 64, 3), np.uint8))  # loaded before the clock starts
    before = _rss_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
    started, cpu = time.perf_counter(), time.process_time()
    if pipeline == "picfind-ocr":
        frames, decoded, embedded = picfind_ocr_pipeline(Path(path), encoder, reader)
    elif pipeline in ("picfind", "picfind-keys"):
        frames, decoded, embedded = picfind_pipeline(Path(path), encoder, keys_only=pipeline == "picfind-keys")
    else:
        frames, decoded, embedded = naive_pipeline(Path(path), encoder)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    best = {}
    for q, vec in texts.items():
        scores = [float(np.dot(v, vec)) for _, v in frames]
        best[q] = frames[int(np.argmax(scores))][0] if frames else None
    print(json.dumps({"wall": wall, "cpu": cpu, "decoded": decoded, "embedded": embedded, "kept": len(frames),
                      "best": best, "peak_mb": _rss_mb("VmHWM") - before}))


def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since `clear_refs`) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def measure(pipeline: str, path: Path, model: str, moments: list[dict]) -> dict:
    cmd = [sys.executable, __file__, "--child", pipeline, str(path), model, json.dumps([m["caption"] for m in moments])]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{pipeline} on {path.name} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def duration_of(path: Path) -> float:
    from picfind.media.video import open_video, probe

    with open_video(str(path)) as f:
        return probe(f).duration


def random_b32() -> str:
    from encode import random_bundle

    return str(random_bundle("vit-b-32").path)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each clip (4K: at most 10)")
    ap.add_argument("--models", default="tiny-shapes,vit-b-32-random")
    ap.add_argument("--formats", default="h264-1080p,hevc10-4k,vp9-720p,h264-1080p-x4")
    ap.add_argument("--pipelines", default="picfind,naive")
    args = ap.parse_args()
    results = []
    for fmt in args.formats.split(","):
        path, moments = footage(fmt, args.seconds)
        if fmt.endswith("-x4"):
            moments = []  # repeated: each moment is there four times over
        length = duration_of(path)
        mb = path.stat().st_size / 1e6
        print(f"\n{fmt}: {length:.0f} s, {mb:.0f} MB ({mb * 8 / length:.1f} Mbit/s)", flush=True)
        for model in args.models.split(","):
            bundle = random_b32() if model == "vit-b-32-random" else model
            for pipeline in args.pipelines.split(","):
                if pipeline == "naive" and fmt.endswith("-x4"):
                    continue  # its memory is not in question; its time is 4x the clip's
                r = measure(pipeline, path, bundle, moments)
                found = [m for m in moments if r["best"].get(m["caption"]) is not None
                         and m["start"] - 1 <= r["best"][m["caption"]] < m["end"]]
                row = {"format": fmt, "model": model, "pipeline": pipeline, "video_seconds": round(length, 1),
                       "wall_s": round(r["wall"], 2), "cpu_s": round(r["cpu"], 2),
                       "video_s_per_s": round(length / r["wall"], 1),
                       "video_s_per_cpu_s": round(length / r["cpu"], 1),
                       "decoded_per_min": round(r["decoded"] * 60 / length), "embedded_per_min":
                       round(r["embedded"] * 60 / length, 1), "kept": r["kept"], "peak_mb": round(r["peak_mb"]),
                       "moments_found": f"{len(found)}/{len(moments)}" if model == "tiny-shapes" else "n/a",
                       # how long after its moment's start each found one is reported, at worst
                       "late_s": round(max((r["best"][m["caption"]] - m["start"] for m in found), default=0), 2)}
                results.append(row)
                print(f"  {model:16} {pipeline:11} {row['wall_s']:7.2f} s ({row['cpu_s']:.2f} s CPU)  "
                      f"{row['video_s_per_s']:6.1f}x real time ({row['video_s_per_cpu_s']:.1f}x per CPU second)  "
                      f"decoded {row['decoded_per_min']:5}/min  embedded {row['embedded_per_min']:5}/min  "
                      f"kept {row['kept']:4}  peak {row['peak_mb']:5} MB  moments {row['moments_found']} "
                      f"(late by {row['late_s']} s at most)", flush=True)
    for fmt in args.formats.split(","):
        for model in args.models.split(","):
            rows = {r["pipeline"]: r for r in results if r["format"] == fmt and r["model"] == model}
            if {"picfind", "naive"} <= set(rows):
                print(f"{fmt} {model}: picfind {rows['naive']['wall_s'] / rows['picfind']['wall_s']:.1f}x "
                      f"the naive baseline's speed ({rows['naive']['cpu_s'] / rows['picfind']['cpu_s']:.1f}x by CPU "
                      "time)", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
