"""Ray on one bigger node (a GPU machine): images/s per CPU worker, what the GPU actor does, and
what a GPU could take, for the capacity plan in docs/scale.md.

    python benchmarks/ray_node.py [--photos 300] [--copies 1] [--workers 1,2,4,8,16] [--pools 4,2]

On the corpus and model of index_speed.py (vit-b-32 with random weights), in one run. With
--copies K each photo is there K times, each copy a different content (bytes appended after the
image's end, which decoders ignore), for a longer run at the same work per photo.
  * local: `picfind index` with the local runner, all cores (the baseline);
  * ray_auto: `Library.index(..., ray=...)` on a local cluster of the whole machine: GPU actors
    when ONNX Runtime there can use the GPU, else CPU workers and the reason in the report;
  * ray_cpu_W: a cluster of W CPUs (no GPU) and W workers, one CPU each: images/s per worker;
  * ray_pool_W: a cluster of all CPUs (no GPU) and W workers, each with CPUs/W threads;
  * read_per_core: picfind's read stage alone (read, hash, decode, preprocess) on one core;
  * gpu_actor: a Ray actor holding the GPU (`num_gpus=1`) runs the same architecture's image
    tower in PyTorch float16 on random pixels: the encoder's rate there, the model alone.
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from index_speed import build_corpus, ray_run, run_measured  # noqa: E402


def ray_index(bundle: str, corpus: Path, db: str, workers: int, **init) -> dict:
    """One indexing run through a fresh local cluster started with `init` (timed apart)."""
    import ray

    ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR", **init)
    try:
        row = ray_run(bundle, str(corpus), db, workers)
    finally:
        ray.shutdown()
    return {**row, "images_per_s": round(row["images_per_s"], 2), "seconds": round(row["seconds"], 1)}


def read_per_core(bundle: str, corpus: Path) -> dict:
    from picfind.indexing.stages import IndexOptions, Task, read_file
    from picfind.models.bundle import Bundle

    prep = Bundle.load(bundle).preprocessing
    paths = sorted(p for p in corpus.iterdir() if not p.name.startswith("."))[:60]
    start = time.perf_counter()
    for p in paths:
        st = p.stat()
        read_file(Task(str(p), 1, st.st_size, st.st_mtime_ns), frozenset(), prep, IndexOptions())
    return {"images_per_s": round(len(paths) / (time.perf_counter() - start), 2), "images": len(paths)}


class TorchTower:
    """The vit-b-32 image tower (transformers' CLIP, default config = ViT-B/32) on this actor's GPU."""

    def __init__(self) -> None:
        import torch
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        self.torch = torch
        self.model = CLIPVisionModelWithProjection(CLIPVisionConfig(projection_dim=512)).half().cuda().eval()
        self.gpu = torch.cuda.get_device_name(0)

    def rate(self, batch: int, seconds: float = 5.0) -> dict:
        torch = self.torch
        x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=torch.float16)
        with torch.inference_mode():
            for _ in range(3):
                self.model(pixel_values=x)
            torch.cuda.synchronize()
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                self.model(pixel_values=x)
                n += batch
            torch.cuda.synchronize()
        return {"batch": batch, "images_per_s": round(n / (time.perf_counter() - start)), "gpu": self.gpu,
                "node": socket.gethostname(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def gpu_actor() -> list[dict]:
    import ray

    ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        if not ray.cluster_resources().get("GPU"):
            return [{"gpu": "none in this cluster"}]
        actor = ray.remote(num_gpus=1)(TorchTower).remote()
        return [ray.get(actor.rate.remote(b)) for b in (64, 256)]
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--workers", default="1,2,4,8,16", help="clusters of W CPUs with W workers")
    ap.add_argument("--pools", default="", help="clusters of all CPUs with W workers")
    ap.add_argument("--stage", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:  # each measure in its own process, so that each starts its own cluster cleanly
        name, *rest = args.stage
        if name == "ray":
            workers, init = json.loads(rest[3])
            print(json.dumps(ray_index(rest[0], Path(rest[1]), rest[2], workers, **init)))
        elif name == "read":
            print(json.dumps(read_per_core(rest[0], Path(rest[1]))))
        else:
            print(json.dumps(gpu_actor()))
        return

    import onnxruntime as ort
    import ray
    from encode import random_bundle

    result: dict = {"node": {"cpus": os.cpu_count(), "onnxruntime": ort.__version__,
                             "providers": ort.get_available_providers(), "ray": ray.__version__}}
    print(result, flush=True)
    bundle = str(random_bundle("vit-b-32").path)
    t, corpus = time.perf_counter(), HERE / ".cache" / "corpus"
    photos = build_corpus(corpus, args.photos)
    if args.copies > 1:
        corpus = HERE / ".cache" / f"corpus-x{args.copies}-{args.photos}"
        corpus.mkdir(exist_ok=True)
        for k in range(args.copies):
            for p in photos:
                (corpus / f"{k}-{p.name}").write_bytes(p.read_bytes() + b"\0" * (k + 1))
    result["photos"] = len(photos) * args.copies
    print(f"corpus: {result['photos']} photos in {time.perf_counter() - t:.0f} s", flush=True)
    me = [sys.executable, __file__, "--stage"]
    with tempfile.TemporaryDirectory() as tmp:
        wall, _, out = run_measured([sys.executable, "-m", "picfind", "index", str(corpus), "--db",
                                     f"{tmp}/local.db", "--model", bundle, "--json"])
        rep = json.loads(out)
        result["local"] = {"images_per_s": round(rep["embedded"] / wall, 2), "seconds": round(wall, 1),
                           "device": rep["device"]}
        print("local", result["local"], flush=True)
        result["read_per_core"] = json.loads(run_measured([*me, "read", bundle, str(corpus)])[2])
        print("read_per_core", result["read_per_core"], flush=True)
        cpus = os.cpu_count()
        runs = [("ray_auto", [0, {}])]
        runs += [(f"ray_pool_{w}", [int(w), {"num_cpus": cpus, "num_gpus": 0}]) for w in args.pools.split(",") if w]
        runs += [(f"ray_cpu_{w}", [int(w), {"num_cpus": int(w), "num_gpus": 0}]) for w in args.workers.split(",") if w]
        for name, init in runs:
            out = run_measured([*me, "ray", bundle, str(corpus), f"{tmp}/{name}.db", json.dumps(init)])[2]
            result[name] = json.loads(out)
            print(name, result[name], flush=True)
    try:
        result["gpu_actor"] = json.loads(run_measured([*me, "gpu"])[2])
    except SystemExit as e:  # no GPU here, or no PyTorch with CUDA
        result["gpu_actor"] = str(e).splitlines()[-1]
    print("gpu_actor", result["gpu_actor"], flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
