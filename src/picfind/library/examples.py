"""Query examples into vectors: an image's bytes, a catalog picture, an indexed video at a moment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from picfind.library.files import FileDoors
from picfind.media.formats import VIDEO_EXTRA
from picfind.media.safefile import read_regular
from picfind.search.moments import moment_vector, video_file

if TYPE_CHECKING:
    from picfind.models.encoder import Encoder
    from picfind.models.preprocess import Preprocessing

__all__ = ["Example", "ExampleDoors", "decode_example", "text_vector"]


@dataclass(frozen=True)
class Example:
    """An example image decoded into the model's input, with its content hash."""
    digest: str
    pixels: np.ndarray


def decode_example(data: bytes, prep: Preprocessing, max_pixels: int | None = None) -> Example:
    """Decode an example image (JPEGs at reduced size, see `decode`). Touches no catalog, so a
    server may run it on other threads, with a lower `max_pixels` for images anyone may send
    (default: `decode.DEFAULT_MAX_PIXELS`)."""
    from picfind.indexing.stages import content_hash
    from picfind.media.decode import DEFAULT_MAX_PIXELS, SkipFile, decode

    max_pixels = max_pixels or DEFAULT_MAX_PIXELS
    try:
        decoded = decode(data, prep.size * 2, max_pixels)
    except SkipFile as e:
        if e.reason == "too many pixels":
            raise ValueError(f"cannot use this image: more than {max_pixels // 10**6} MP, the cap for "
                             "example images here; use a smaller copy") from None
        raise ValueError(f"cannot use this image: {e.reason} ({e})") from None
    return Example(content_hash(data), prep.tensor(prep.resize(decoded.image)))


def _stream_hash(path: str) -> str:
    """A video's content hash, read as a stream."""
    from picfind.indexing.videos import stream_hash
    from picfind.media.video import open_video

    with open_video(path) as f:
        return stream_hash(f)


def text_vector(encoder: Encoder, text: str) -> np.ndarray:
    """A text's vector from this text encoder; NLLB-CLIP is told the text's language."""
    language = None
    if encoder.bundle.text.language_token is not None:
        from picfind.library.multilingual import language_of

        language = language_of(text)
    return encoder.encode_text(text, language)


class ExampleDoors(FileDoors):
    def embed_text(self, text: str) -> np.ndarray:
        """A text's vector from the text side in use (`text_bundle`); NLLB-CLIP is told its language.
        A search's child may have made it already (`text_ahead`)."""
        vectors = self._ahead.value(0) if self._ahead and text in self._ahead_texts else None
        if isinstance(vectors, list):
            return vectors[self._ahead_texts.index(text)]
        return text_vector(self.text_encoder, text)

    def embed_image(self, data: bytes | Example) -> tuple[np.ndarray, str]:
        """An image file's vector and content hash: from the catalog when this content is indexed,
        else embedded now (and not added to the catalog)."""
        from picfind.indexing.stages import content_hash

        digest = data.digest if isinstance(data, Example) else content_hash(data)
        known = self.catalog.vector_of(self.model, digest)
        if known is not None:
            return known, digest
        example = data if isinstance(data, Example) else decode_example(data, self.bundle.preprocessing)
        return self.encoder.encode_images(example.pixels[None])[0], digest

    def video_moment(self, video: str | int, at: str | float | None = None) -> tuple[np.ndarray, str] | None:
        """The stored vector of an indexed video at a moment, and the video's content hash: a
        path ("clip.mp4", "clip.mp4@1:23") or a catalog file id; None when it names no video.
        Without a time, the video as a whole (`picfind.search.moments`)."""
        if isinstance(video, int):
            found = self.catalog.file_by_id(video)
            if found is None or found.get("duration") is None:
                return None
            digest, name = found["content_hash"], found["path"]
        else:
            named = video_file(video, at)
            if named is None:
                return None
            (name, at), digest = named, _stream_hash(named[0])
        vector = moment_vector(self.catalog, self.model, digest, at)
        if vector is None:
            from picfind.media.video import supported

            then = "run `picfind index` on its folder first" if supported() else \
                f"videos need {VIDEO_EXTRA}, then `picfind index` on its folder"
            raise LookupError(f"{name} is not indexed with {self.model}: {then}")
        return vector, digest

    def _indexed_vector(self, file_id: int) -> tuple[np.ndarray, str]:
        """A catalog picture's vector: the stored one, else its file's (while still the indexed file)."""
        found = self.catalog.file_by_id(file_id)
        if found is None:
            raise LookupError(f"no picture with id {file_id} in the catalog")
        known = self.catalog.vector_of(self.model, found["content_hash"])
        if known is not None:
            return known, found["content_hash"]
        f = self.open_image(file_id)
        if f is None:
            raise LookupError(f"picture {file_id} is no longer on disk as it was indexed: run `picfind index`")
        with f:
            return self.embed_image(f.read())

    def example_vector(self, image: str | int | bytes | Example,
                       at: str | float | None = None) -> tuple[np.ndarray, str]:
        """The vector and content hash of what `similar` was given (see there)."""
        moment = self.video_moment(image, at) if isinstance(image, str | int) else None
        if at is not None and moment is None:
            raise ValueError("--at is a moment of a video: name an indexed video file")
        if moment is not None:
            return moment
        if isinstance(image, int):
            return self._indexed_vector(image)
        return self.embed_image(read_regular(os.path.expanduser(image)) if isinstance(image, str) else image)
