"""A query in any language: a multilingual text encoder paired with the catalog's image model
(Multilingual-CLIP's, `search --text-model`), the query's language for models that take it
(NLLB-CLIP), and one line when the model that reads the query cannot read its language."""

from __future__ import annotations

from picfind.models import store as models
from picfind.models.bundle import Bundle
from picfind.models.languages import Detection, detect
from picfind.models.registry import REGISTRY

TEXT_MODEL_SETTING = "text_model"  # the catalog's own choice (`picfind index --text-model NAME`)
NO_TEXT_MODEL = ("", "none", "off")  # `--text-model none`: the image model's own text tower


def check_pair(text: Bundle, image: Bundle) -> None:
    """Refuse, in one line, a text encoder that was not trained into the image model's space."""
    if not text.text_only:
        raise models.ModelError(f"--text-model {text.name}: not a text encoder of its own; it has its own "
                                f"image side (index with `--model {text.name}` to use it)")
    if image.name not in text.pairs_with:
        pairs = ", ".join(text.pairs_with) or "none"
        readers = [n for n, e in REGISTRY.items() if image.name in e.pairs_with]
        other = f"; for {image.name} use {', '.join(readers)}" if readers else \
            f"; no text encoder pairs with {image.name}: the catalog must be indexed with one of {pairs}"
        raise models.ModelError(f"--text-model {text.name} answers only for catalogs of {pairs}, not this "
                                f"{image.name} catalog{other}")
    if text.embedding_dim != image.embedding_dim:
        raise models.ModelError(f"--text-model {text.name} gives {text.embedding_dim}-d vectors but {image.name} "
                                f"{image.embedding_dim}-d: the bundle is not the one its name says")


def reads(bundle: Bundle, query: Detection) -> bool:
    return bundle.languages != "en" or query.english


def hint(query: str, reader: Bundle, image_model: str) -> str | None:
    """One line when `reader` (the text side in use) reads English only and the query is not in
    English, naming the installed or known models that read it; None otherwise."""
    found = detect(query)
    if reads(reader, found):
        return None
    installed = {m.name for m in models.list_models() if m.installed}

    def named(name: str) -> str:
        return name + ("" if name in installed else " (not installed)")

    paired = [named(n) for n, e in REGISTRY.items() if image_model in e.pairs_with]
    whole = [named(n) for n in ("nllb-clip-base-siglip", "siglip2-b32-256")
             if n in REGISTRY and not (n.startswith("siglip2") and found.script not in ("Latin", "Cyrillic",
                                                                                        "Han", "Greek"))]
    ways = ([f"search with --text-model {' or '.join(paired)}"] if paired else []) + \
        [f"index with --model {' or '.join(whole)}"]
    return (f"the query looks {found.name}, but {reader.name} reads English only, so these results may be "
            f"unrelated pictures: {'; or '.join(ways)} (docs/multilingual.md)")


def language_of(query: str) -> str | None:
    """The query's FLORES-200 code where one is known (NLLB's first token), else None."""
    return detect(query).flores
