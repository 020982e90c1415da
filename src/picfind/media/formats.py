"""The file types picfind reads, and how a user's extension list is read."""

from __future__ import annotations

import os

# Camera RAW files (media/raw.py reads them with LibRaw): those of Immich's list that LibRaw reads
RAW_EXTENSIONS = ("dng", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "raf", "orf", "ori", "rw2", "rwl",
                  "pef", "srw", "x3f", "iiq", "3fr", "fff", "erf", "kdc", "k25", "dcr", "mrw", "mos", "mef", "cap")
# What picfind reads by default (media/decode.py decodes them all).
IMAGE_EXTENSIONS = ("jpg", "jpeg", "jpe", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif", "avif", "jxl",
                    *RAW_EXTENSIONS)
# Videos (media/video.py samples frames of them with PyAV).
VIDEO_EXTENSIONS = ("mp4", "mov", "m4v", "mkv", "webm", "avi", "3gp", "mts", "m2ts", "wmv")
# PyAV is an extra (its wheels bundle GPL encoders; a default install carries no GPL code): without
# it a video is skipped with this reason, which says what to do, and read by the next run after it.
VIDEO_EXTRA = "pip install 'picfind[video]'"
NO_VIDEO_SUPPORT = f"videos need {VIDEO_EXTRA}"
# The decoders of a default install, one kind of picture each: where one is missing (a package left
# out, a broken install), those files are skipped with the reason naming the command, as videos are.
NO_RAW_SUPPORT = "RAW files need pip install rawpy"
NO_HEIC_SUPPORT = "HEIC files need pip install pi-heif"
NO_JXL_SUPPORT = "JPEG XL files need pip install pylibjxl"
# Those skips, tried again by every run (the first after installing the decoder reads the files);
# the last two are what earlier picfinds remembered for a missing decoder
MISSING_DECODERS = (NO_VIDEO_SUPPORT, NO_RAW_SUPPORT, NO_HEIC_SUPPORT, NO_JXL_SUPPORT, "RAW support missing",
                    "video support missing")
EXTENSIONS = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
# Earlier picfinds' defaults, as they were: the catalogs' migrations give a root that read one of
# them today's default (a root given its own list keeps it)
PHOTOS_V1 = ("jpg", "jpeg", "jpe", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif")
WITH_VIDEOS_V2 = PHOTOS_V1 + ("mp4", "mov", "m4v", "mkv", "webm", "avi", "3gp", "mts", "m2ts", "wmv")


# A photograph in two files: a camera's RAW beside the JPEG (or HEIF) it saved with it (RAW+JPEG),
# an iPhone's Live Photo: the still beside its motion, a movie of a few seconds. The RAW or motion
# is shown with its picture while that picture is indexed (`indexing.pairs` decides which).
LIVE_STILLS = ("heic", "heif", "jpg", "jpeg")  # what a Live Photo's still is saved as
LIVE_MOTIONS = ("mov", "mp4")  # and its motion
LIVE_MAX_SECONDS = 4.0  # Apple's are about 3 s; a longer clip beside a photo is a video of its own
RAW_JPEGS = ("jpg", "jpeg", "heic", "heif")  # what a camera saves beside its RAW (RAW+JPEG, RAW+HEIF)
RAW_WITH_JPEG = "raw with its jpeg"  # the skip reason of a RAW shown with its picture
LIVE_MOTION = "live photo motion"  # and of a Live Photo's motion (`status` counts those apart)


def _sibling(path: str, extensions: tuple[str, ...]) -> str | None:
    """A file beside `path` with the same name and one of these extensions (either case)."""
    stem = os.path.splitext(path)[0]
    for ext in extensions:
        for candidate in (f"{stem}.{ext.upper()}", f"{stem}.{ext}"):
            if os.path.isfile(candidate):
                return candidate
    return None


def live_motion(still: str) -> str | None:
    """The motion of a Live Photo whose still this picture may be (IMG_1234.HEIC -> IMG_1234.MOV)."""
    return _sibling(still, LIVE_MOTIONS) if still.rsplit(".", 1)[-1].lower() in LIVE_STILLS else None


def raw_of(picture: str, folders: dict[str, dict[str, str]] | None = None) -> str | None:
    """The RAW saved beside this camera JPEG, if any. Its folder is listed once (into `folders`,
    kept by the caller for a page of results) rather than asked for 28 extensions in two cases."""
    if picture.rsplit(".", 1)[-1].lower() not in RAW_JPEGS:
        return None
    folder, name = os.path.split(picture)
    if folders is None or folder not in folders:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            names = []
        raws = {os.path.splitext(n)[0]: n for n in names if n.rsplit(".", 1)[-1].lower() in RAW_EXTENSIONS}
        if folders is None:
            folders = {}
        folders[folder] = raws
    found = folders[folder].get(os.path.splitext(name)[0])
    return os.path.join(folder, found) if found else None


def is_raw(path: str) -> bool:
    return path.rsplit(".", 1)[-1].lower() in RAW_EXTENSIONS


def is_video(path: str) -> bool:
    """Whether a file is read as a video (by its name, as the walk chose it)."""
    return path.rsplit(".", 1)[-1].lower() in VIDEO_EXTENSIONS


def normalise_extensions(exts: list[str] | str | None, default: tuple[str, ...]) -> list[str]:
    if exts is None:
        return list(default)
    items = exts.split(",") if isinstance(exts, str) else exts
    out = sorted({e.strip().lower().lstrip(".") for e in items if e.strip()})
    if not out:
        raise ValueError("--ext needs at least one extension, e.g. --ext jpg,png")
    return out
