"""Whether a catalog finds faces, and with which face model: remembered like OCR (`index --faces`
turns it on for good, `--no-faces` off), so later runs, `watch` and `--ray` keep doing it."""

from __future__ import annotations

from typing import Protocol

OFF = "off"
DEFAULT_FACES = "dlib-resnet-v1"  # HOG detector + 5-point landmarks + ResNet descriptor (`people.finder`)
FACE_MODELS = (DEFAULT_FACES,)


class FacesUnavailable(RuntimeError):
    """The face packages are not installed; the message says how to install them."""


class Settings(Protocol):
    def setting(self, key: str, default: str) -> str: ...
    def set_setting(self, key: str, value: str) -> None: ...


def faces_setting(catalog: Settings) -> str:
    """The catalog's face model, or "off" (the default)."""
    return catalog.setting("faces", OFF)


def set_faces(catalog: Settings, on: bool) -> None:
    catalog.set_setting("faces", DEFAULT_FACES if on else OFF)
