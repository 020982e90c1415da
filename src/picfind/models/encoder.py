"""CLIP encoders on ONNX Runtime: images and texts to unit vectors in one embedding space.

CPU by default; the CUDA execution provider when onnxruntime-gpu and a GPU are present.
Texts are run unpadded where the graph allows (CLIP pools the end-of-text token behind a causal
mask, so padding changes nothing but the cost); SigLIP reads the last position, so its bundles
pad to a fixed length. Graphs exported for a fixed batch size are run in a loop.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from picfind.models.bundle import Bundle, BundleError, TowerSpec

if TYPE_CHECKING:
    import onnxruntime as ort

    from picfind.models.tokenizer import TextTokenizer


def available_device() -> str:
    import onnxruntime as ort  # imported on first use: a re-scan with nothing to embed never pays for it

    return "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"


def normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


class Encoder:
    """Both towers of one bundle. `threads` caps ONNX Runtime's intra-op threads (CPU)."""

    def __init__(self, bundle: Bundle, device: str = "auto", threads: int | None = None,
                 spinning: bool = True, prepared: bool = False) -> None:
        self.bundle = bundle
        # Load the text encoder from its prepared copy (`picfind.models.prepared`), made on first use.
        self.prepared = prepared
        # Idle ONNX Runtime threads spin for a while; that wins a little latency for a lone
        # query but steals a core from the decoders while indexing.
        self.spinning = spinning
        self._device = device
        self.threads = threads or os.cpu_count() or 1
        self._tokenizer: TextTokenizer | None = None
        self._tokenizer_lock = threading.Lock()
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._preloading: threading.Thread | None = None
        self._preload_error: BaseException | None = None

    @property
    def device(self) -> str:
        if self._device == "auto":
            self._device = available_device()
        return self._device

    @property
    def tokenizer(self) -> TextTokenizer:
        with self._tokenizer_lock:
            if self._tokenizer is None:
                from picfind.models.tokenizer import TextTokenizer

                self._tokenizer = TextTokenizer(self.bundle.tokenizer_path, self.bundle.text)
        return self._tokenizer

    @property
    def loaded(self) -> bool:
        """Whether a session is open (or opening): ONNX Runtime's threads are running."""
        return bool(self._sessions) or self._preloading is not None

    def preload_text(self) -> None:
        """Start loading the text encoder, then its tokenizer, on a thread of their own. ONNX
        Runtime lets go of the GIL while it loads, so whatever the caller does meanwhile (the
        tokenizer, the catalog, the vector index, or waiting for the user to type) overlaps it:
        a fresh search pays the longest of these, not their sum."""
        if self._preloading is not None or self.bundle.text_tower.file in self._sessions:
            return

        def load() -> None:
            try:
                self._session(self.bundle.text_tower)
                self.tokenizer  # noqa: B018 - loaded here unless the caller got to it first
            except BaseException as e:  # noqa: BLE001 - raised again where the encoder is used
                self._preload_error = e

        self._preloading = threading.Thread(target=load, name="picfind-text-encoder")
        self._preloading.start()

    def _session(self, tower: TowerSpec) -> ort.InferenceSession:
        loading = self._preloading
        if loading is not None and loading is not threading.current_thread():
            loading.join()
            error, self._preload_error = self._preload_error, None
            if error is not None:
                raise error
        if tower.file not in self._sessions:
            path = Path(self.bundle.path) / tower.file
            if not path.is_file():
                raise BundleError(f"model {self.bundle.name!r}: {tower.file} is missing in {self.bundle.path}")
            if self.prepared and self.device == "cpu" and tower == self.bundle.text_tower:
                from picfind.models import prepared

                self._sessions[tower.file] = prepared.session(self.bundle, tower, self._open)
            else:
                self._sessions[tower.file] = self._open(path)
        return self._sessions[tower.file]

    def _open(self, model: Path) -> ort.InferenceSession:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        providers = ["CPUExecutionProvider"]
        if self.device == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        return ort.InferenceSession(str(model), opts, providers=providers)

    @property
    def active_device(self) -> str:
        """Where the image encoder really runs: ONNX Runtime falls back to the CPU silently
        when the CUDA provider cannot load (a missing CUDA library, say)."""
        first = self._session(self.bundle.image_tower).get_providers()[0]
        return "cuda" if first == "CUDAExecutionProvider" else "cpu"

    def _run(self, tower: TowerSpec, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """One graph over a batch; in slices of its fixed batch size where it has one."""
        session = self._session(tower)
        wanted = {i.name: i.type for i in session.get_inputs()}
        if wanted.keys() != inputs.keys():
            raise BundleError(f"model {self.bundle.name!r}: {tower.file} takes {', '.join(sorted(wanted))} but its "
                              f"manifest.json gives {', '.join(sorted(inputs))}: correct the manifest's input names")
        # Half-precision exports (Xenova's *_fp16.onnx) may take float16 pixels; the output is
        # made float32 by `normalise`.
        inputs = {k: v.astype(np.float16) if wanted[k] == "tensor(float16)" and v.dtype == np.float32 else v
                  for k, v in inputs.items()}
        step = tower.batch_size
        n = len(next(iter(inputs.values())))
        if not step or n <= step:
            return session.run([tower.output], inputs)[0]
        return np.concatenate([session.run([tower.output], {k: v[i:i + step] for k, v in inputs.items()})[0]
                               for i in range(0, n, step)])

    def encode_images(self, pixels: np.ndarray) -> np.ndarray:
        """float32 [N, 3, S, S] preprocessed pixels -> float32 [N, D] unit vectors."""
        tower = self.bundle.image_tower
        return normalise(self._run(tower, {tower.input: np.ascontiguousarray(pixels, np.float32)}))

    def _text_inputs(self, tower: TowerSpec, texts: list[str], language: str | None) -> dict[str, np.ndarray]:
        ids, mask = self.tokenizer.encode(texts, language=language)
        inputs = {tower.input: ids.astype(tower.ids)}
        if tower.attention_mask:
            inputs[tower.attention_mask] = mask.astype(tower.ids)
        return inputs

    def encode_texts(self, texts: list[str], language: str | None = None) -> np.ndarray:
        """Texts -> float32 [N, D] unit vectors. `language`: their FLORES-200 code, for a model whose
        texts start with one (NLLB-CLIP); the others ignore it."""
        tower = self.bundle.text_tower
        if not texts:
            return np.zeros((0, self.bundle.embedding_dim), np.float32)
        self.tokenizer  # noqa: B018 - first: it loads while a preloading session still does
        if self.bundle.text.pad_to:
            return normalise(self._run(tower, self._text_inputs(tower, texts, language)))
        # One at a time, unpadded: padding a short query to a long neighbour costs more than
        # the per-call overhead saves.
        return normalise(np.concatenate([self._run(tower, self._text_inputs(tower, [t], language)) for t in texts]))

    def encode_text(self, text: str, language: str | None = None) -> np.ndarray:
        return self.encode_texts([text], language)[0]
