"""Queries in any language: NLLB-CLIP and Multilingual-CLIP against their reference implementations
(open_clip's own HFTextEncoder and HFTokenizer, `multilingual_clip.MultilingualCLIP`), a catalog of
one family answering through its paired multilingual text encoder, and the one-line hint when the
model cannot read the query (CLI, shell, page).

The models have the real widths with random weights and one transformer layer (the reference
classes build any depth; parity does not depend on it), the token tables the size of small
tokenizers built by transformers' own NllbTokenizer and XLMRobertaTokenizer classes
(scripts/make_sentencepiece_tokenizers.py). They are built once per session.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from picfind.models import registry
from picfind.models.bundle import Bundle, TokenizerSpec
from picfind.models.tokenizer import TextTokenizer

from .conftest import REPO, picfind, real_photos
from .test_tokenizer import varied_strings
from .test_web import CHROMIUM, FLAGS, LOCAL, serving

sys.path.insert(0, str(REPO / "scripts"))

QUERIES = {"deu_Latn": "ein Hund schläft auf einem roten Sofa", "rus_Cyrl": "собака на пляже на закате",
           "zho_Hans": "海滩上的两只猫", "jpn_Jpan": "浜辺の犬と子供", "hin_Deva": "समुद्र तट पर कुत्ता",
           "arb_Arab": "كلب على الشاطئ عند الغروب"}


@pytest.fixture(scope="session")
def multilingual_tokenizers(tmp_path_factory) -> dict[str, Path]:
    from make_sentencepiece_tokenizers import labse_like, nllb_like, xlmr_like

    folder = tmp_path_factory.mktemp("ml-tokenizers")
    return {"nllb": nllb_like(folder / "nllb.json"), "xlmr": xlmr_like(folder / "xlmr.json"),
            "labse": labse_like(folder / "labse.json")}


def _vocab(path: Path) -> int:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path)).get_vocab_size()


@pytest.fixture(scope="session")
def nllb_models(multilingual_tokenizers, tmp_path_factory) -> dict:
    """name: (reference model, exported bundle folder) for both NLLB-CLIP families."""
    import torch
    from convert_multilingual import NllbClip, export

    out = {}
    for name in ("nllb-clip-base-siglip", "nllb-clip-large-siglip"):
        torch.manual_seed(11)
        model = NllbClip(name, _vocab(multilingual_tokenizers["nllb"]), folder=tmp_path_factory.mktemp("cfg")).eval()
        out[name] = model, export(model, name, multilingual_tokenizers["nllb"],
                                  tmp_path_factory.mktemp("nllb") / name, check=False)
    return out


def _mclip(name: str, tokenizer: Path, tmp_path_factory) -> tuple:
    import torch
    from convert_multilingual import export, mclip_model

    torch.manual_seed(12)
    model = mclip_model(name, _vocab(tokenizer), folder=tmp_path_factory.mktemp("base"))
    return model, export(model, name, tokenizer, tmp_path_factory.mktemp("mclip") / name, check=False)


@pytest.fixture(scope="session")
def mclip(multilingual_tokenizers, tmp_path_factory):
    """Multilingual-CLIP XLM-R Large for ViT-B/32: the reference MultilingualCLIP and its bundle."""
    return _mclip("mclip-xlmr-large-vit-b-32", multilingual_tokenizers["xlmr"], tmp_path_factory)


def test_nllb_ids_match_open_clips_tokenizer_told_each_language(multilingual_tokenizers) -> None:
    from convert_multilingual import _as_openclip_tokenizer, openclip_module
    from transformers import NllbTokenizer

    path = multilingual_tokenizers["nllb"]
    spec = TokenizerSpec(**registry.REGISTRY["nllb-clip-base-siglip"].manifest["tokenizer"])
    ours = TextTokenizer(path, spec)
    strings = [*QUERIES.values(), *varied_strings(150), "word " * 100]
    hf_class = openclip_module("tokenizer").HFTokenizer
    for language in [*QUERIES, "eng_Latn"]:
        ref = hf_class.__new__(hf_class)
        _as_openclip_tokenizer(ref, NllbTokenizer(tokenizer_file=str(path), src_lang=language))
        expected = ref(strings).tolist()
        got = ours.batch(strings, language=language).tolist()
        bad = [s for s, g, e in zip(strings, got, expected) if g != e]
        assert not bad, f"{language}: {len(bad)} strings differ, e.g. {bad[:2]!r}"
        assert got[0][0] == ref.tokenizer.convert_tokens_to_ids(language)
    assert ours.ids("a dog", "xyz_Abcd") == ours.ids("a dog")  # an unknown code: the bundle's own (eng_Latn)


@pytest.mark.parametrize("name, kind", [("mclip-xlmr-large-vit-b-32", "xlmr"), ("mclip-labse-vit-l-14", "labse")])
def test_mclip_ids_match_the_multilingual_clip_reference_tokenizer(multilingual_tokenizers, name: str,
                                                                    kind: str) -> None:
    from transformers import PreTrainedTokenizerFast

    path = multilingual_tokenizers[kind]
    ref = PreTrainedTokenizerFast(tokenizer_file=str(path))
    spec = TokenizerSpec(**registry.REGISTRY[name].manifest["tokenizer"])
    ours = TextTokenizer(path, spec)
    strings = [*QUERIES.values(), *varied_strings(300)]
    ids, mask = ours.encode(strings)
    for s, row, m in zip(strings, ids.tolist(), mask.tolist()):
        expected = ref(s, max_length=77, truncation=True)["input_ids"]  # MultilingualCLIP.forward's, cut as Immich
        assert row[: sum(m)] == expected and row[sum(m):] == [spec.pad_id] * (77 - sum(m)), s
    assert ref.convert_ids_to_tokens(spec.pad_id) == ("<pad>" if kind == "xlmr" else "[PAD]")


@pytest.mark.parametrize("name", ["nllb-clip-base-siglip", "nllb-clip-large-siglip"])
def test_nllb_clip_matches_open_clip_within_1e_4_in_six_languages(nllb_models, multilingual_tokenizers,
                                                                  name: str) -> None:
    from convert_multilingual import parity

    model, folder = nllb_models[name]
    diff = parity(model, Bundle.load(folder), multilingual_tokenizers["nllb"])
    print(f"{name}: max abs difference {diff:.2e}")
    assert diff < 1e-4


@pytest.mark.parametrize("name", ["nllb-clip-base-siglip", "mclip-xlmr-large-vit-b-32"])
def test_models_import_of_immichs_folder_layout(name: str, nllb_models, mclip, multilingual_tokenizers,
                                                tmp_path: Path) -> None:
    """The files where the publisher keeps them (visual/model.onnx, textual/model.onnx,
    textual/tokenizer.json): two registry entries share the layout, so the import asks which; with
    `--as` the installed bundle is the registry's manifest over those files, at parity."""
    import shutil

    from convert_multilingual import parity

    from picfind.models import store

    model, folder = nllb_models[name] if name.startswith("nllb") else mclip
    entry = registry.REGISTRY[name]
    download = tmp_path / "as-downloaded"
    for f in entry.files:
        (download / f.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / f.local, download / f.path)
    twin = "nllb-clip-large-siglip" if name.startswith("nllb") else "mclip-xlmr-large-vit-b-16plus"
    with pytest.raises(store.ModelError, match=f"could hold any of .*{twin}"):
        store.import_folder(download)
    bundle = store.import_folder(download, as_name=name)
    assert bundle.verify() == [] and bundle.languages == entry.languages and bundle.pairs_with == entry.pairs_with
    tokenizer = multilingual_tokenizers["nllb" if name.startswith("nllb") else "xlmr"]
    assert parity(model, bundle, tokenizer) < 1e-4


def test_the_language_token_changes_the_vector_as_the_reference_says(nllb_models) -> None:
    from picfind.models.encoder import Encoder

    _, folder = nllb_models["nllb-clip-base-siglip"]
    enc = Encoder(Bundle.load(folder), device="cpu")
    told, untold = enc.encode_text(QUERIES["rus_Cyrl"], "rus_Cyrl"), enc.encode_text(QUERIES["rus_Cyrl"])
    assert np.abs(told - untold).max() > 1e-3  # CLS pooling reads the language token's position


@pytest.mark.parametrize("name, kind", [("mclip-xlmr-large-vit-b-32", "xlmr"),
                                        ("mclip-xlmr-large-vit-b-16plus", "xlmr"), ("mclip-labse-vit-l-14", "labse")])
def test_mclip_matches_multilingual_clip_within_1e_4_in_six_languages(mclip, multilingual_tokenizers,
                                                                      tmp_path_factory, name: str, kind: str) -> None:
    from convert_multilingual import parity

    model, folder = mclip if name == "mclip-xlmr-large-vit-b-32" else \
        _mclip(name, multilingual_tokenizers[kind], tmp_path_factory)
    diff = parity(model, Bundle.load(folder), multilingual_tokenizers[kind])
    print(f"mclip: max abs difference {diff:.2e}")
    assert diff < 1e-4


@pytest.fixture(scope="session")
def clip_b32(tmp_path_factory):
    """OpenAI ViT-B/32's image side at its real widths (one layer), as Xenova's graphs: `vit-b-32`."""
    import torch
    from convert_clip import export_bundle
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(13)
    model = CLIPModel(CLIPConfig(text_config={"num_hidden_layers": 1}, vision_config={"num_hidden_layers": 1})).eval()
    folder = tmp_path_factory.mktemp("b32") / "vit-b-32"
    export_bundle(model, folder, name="vit-b-32", image_size=224, description="test", licence="MIT",
                  source="tests", check=False)
    return model, folder


@pytest.mark.slow
def test_an_unpadded_export_gives_the_same_vectors(mclip, multilingual_tokenizers, tmp_path: Path) -> None:
    """Immich's graphs take 77 tokens; one exported for any length runs the query alone, and the
    mean over real tokens makes it the same vector (benchmarks/multilingual.py times both)."""
    from convert_multilingual import export, parity

    model, _ = mclip
    folder = export(model, "mclip-xlmr-large-vit-b-32", multilingual_tokenizers["xlmr"], tmp_path / "dyn", check=False,
                    dynamic=True)
    assert Bundle.load(folder).text.pad_to is None
    assert parity(model, Bundle.load(folder), multilingual_tokenizers["xlmr"]) < 1e-4


def test_a_vit_b_32_catalog_answers_through_its_multilingual_text_encoder(clip_b32, mclip, tmp_path: Path) -> None:
    """Index with the image side, search in Russian with the paired text encoder: the order and the
    scores are the reference's (MultilingualCLIP.forward against CLIPModel's image features)."""
    import json

    import torch
    from convert_clip import features
    from PIL import Image
    from transformers import PreTrainedTokenizerFast

    from picfind.models.preprocess import Preprocessing

    (clip, b32), (model, text) = clip_b32, mclip
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, arr in list(real_photos().items())[:5]:
        Image.fromarray(arr).save(photos / f"{name}.png")
    db = str(tmp_path / "c.db")
    for folder in (b32, text):
        picfind("models", "import", str(folder), check=True)
    picfind("index", str(photos), "--db", db, "--model", "vit-b-32", check=True)
    query = QUERIES["rus_Cyrl"]
    out = picfind("search", query, "--db", db, "--text-model", "mclip-xlmr-large-vit-b-32", "--json", check=True)
    hits = json.loads(out.stdout)
    prep = Preprocessing(224)
    names = sorted(p.name for p in photos.iterdir())
    pixels = np.stack([prep.pixels(Image.open(photos / n).convert("RGB")) for n in names])
    tok = PreTrainedTokenizerFast(tokenizer_file=str(text / "tokenizer.json"), pad_token="<pad>")
    with torch.no_grad():
        images = torch.nn.functional.normalize(features(clip, "image", torch.from_numpy(pixels)), dim=-1)
        words = torch.nn.functional.normalize(model([query], tok), dim=-1)
    scores = (images @ words.T).squeeze(1).numpy()
    expected = sorted(zip(names, scores), key=lambda x: -x[1])
    assert [Path(h["path"]).name for h in hits] == [n for n, _ in expected]
    assert max(abs(h["score"] - s) for h, (_, s) in zip(hits, expected)) < 1e-4
    # the page's API with `serve --text-model`: the same answer
    from starlette.testclient import TestClient

    from picfind.web.app import create_app

    with TestClient(create_app(db, text_model="mclip-xlmr-large-vit-b-32"), base_url=LOCAL) as client:
        page = client.get("/api/search", params={"q": query}).json()
    assert [r["path"] for r in page["results"]] == [h["path"] for h in hits] and "hint" not in page
    # remembered for the catalog: later searches use it without the option
    picfind("index", "--db", db, "--text-model", "mclip-xlmr-large-vit-b-32", check=True)
    again = json.loads(picfind("search", query, "--db", db, "--json", check=True).stdout)
    assert [h["path"] for h in again] == [h["path"] for h in hits]
    assert "queries   read by mclip-xlmr-large-vit-b-32" in picfind("status", "--db", db, check=True).stdout
    # its own text tower reads English only: the hint says so, and names the paired encoder
    own = picfind("search", query, "--db", db, "--text-model", "none")
    assert "looks Russian" in own.stderr and "--text-model mclip-xlmr-large-vit-b-32" in own.stderr


def test_a_text_encoder_that_does_not_pair_with_the_catalog_is_refused_in_one_line(mclip, shapes_catalog: str) -> None:
    db = shapes_catalog
    picfind("models", "import", str(mclip[1]), check=True)
    proc = picfind("search", "a red circle", "--db", db, "--text-model", "mclip-xlmr-large-vit-b-32")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "answers only for catalogs of vit-b-32" in proc.stderr
    assert "not this tiny-shapes catalog" in proc.stderr
    index = picfind("index", "--db", db, "--text-model", "tiny-shapes")
    assert index.returncode == 1 and "not a text encoder of its own" in index.stderr


@pytest.mark.parametrize("query, script, language", [
    ("ein Hund schläft auf einem roten Sofa", "Latin", "de"), ("собака на пляже", "Cyrillic", "ru"),
    ("海滩上的两只猫", "Han", "zh"), ("浜辺の犬と子供", "Han", "ja"), ("समुद्र तट पर कुत्ता", "Devanagari", "hi"),
    ("كلب على الشاطئ", "Arabic", "ar"), ("an old man with a hat", "Latin", "en"), ("sunset beach", "Latin", None),
    ("Hund", "Latin", None), ("", "", None)])
def test_the_query_language_offline(query: str, script: str, language: str | None) -> None:
    from picfind.models.languages import detect

    found = detect(query)
    assert (found.script, found.language) == (script, language)
    assert found.english == (language in ("en", None) and script in ("Latin", ""))


def test_the_latin_detector_unpacks_its_model_once_and_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from picfind.models import languages
    from picfind.models.paths import models_dir

    texts = ["zwei rote Kreise auf schwarzem Hintergrund", "chien sur la plage au soleil", "an old man with a hat"]
    monkeypatch.setattr(languages, "_identifier", None)
    packed = [languages.detect(t) for t in texts]  # from the wheel's LZMA file, unpacking a copy
    assert len(list((models_dir() / ".langid").glob("*/nextmove.npy"))) == 1
    monkeypatch.setattr(languages, "_identifier", None)
    assert [languages.detect(t) for t in texts] == packed  # from the copy
    assert [d.language for d in packed] == ["de", "fr", "en"]


@pytest.fixture(scope="module")
def shapes_catalog(tmp_path_factory) -> str:
    from .conftest import write_shapes

    folder = tmp_path_factory.mktemp("shapes")
    write_shapes(folder / "p", 4)
    db = str(folder / "c.db")
    picfind("index", str(folder / "p"), "--db", db, "--model", "tiny-shapes", check=True)
    return db


@pytest.mark.parametrize("query, language", [("собака на пляже", "Russian"), ("海滩上的两只猫", "Chinese"),
                                             ("zwei rote Kreise auf schwarzem Hintergrund", "German"),
                                             ("كلب على الشاطئ", "Arabic"), ("a red circle", None)])
def test_the_cli_says_when_the_model_cannot_read_the_query(shapes_catalog: str, query: str,
                                                           language: str | None) -> None:
    proc = picfind("search", query, "--db", shapes_catalog, "-n", "2", check=True)
    lines = [line for line in proc.stderr.splitlines() if "reads English only" in line]
    if language is None:
        assert not lines
        return
    assert len(lines) == 1 and f"the query looks {language}, but tiny-shapes reads English only" in lines[0]
    assert "nllb-clip-base-siglip (not installed)" in lines[0]
    assert len(proc.stdout.splitlines()) == 2  # the results are still shown


def test_an_image_term_is_no_language_and_refuses_nothing(shapes_catalog: str, tmp_path: Path) -> None:
    from .conftest import shape_files

    example = tmp_path / "Beispiel.png"
    shape_files("red", "circle", n=1)[0].save(example)
    proc = picfind("search", "собака", "+", str(example), "--db", shapes_catalog, "-n", "2", check=True)
    assert proc.stderr.count("the query looks Russian") == 1
    quiet = picfind("search", str(example), "--db", shapes_catalog, "-n", "2", check=True)
    assert "looks" not in quiet.stderr


def test_no_words_no_hint_and_no_error(shapes_catalog: str) -> None:
    """A search by person alone has no words: the hint is None, never a refused empty query."""
    from picfind import Library

    with Library(shapes_catalog) as lib:
        assert lib.language_hint([]) is None and lib.language_hint("  ") is None
        assert "looks Russian" in lib.language_hint(["собака", "+", "пляж"])


def test_the_shell_says_it_too(shapes_catalog: str) -> None:
    proc = picfind("shell", "--db", shapes_catalog, input="浜辺の犬\na red circle\n", check=True)
    assert proc.stderr.count("the query looks Japanese") == 1


def test_the_page_shows_the_hint_above_the_results(shapes_catalog: str) -> None:
    from playwright.sync_api import sync_playwright

    with serving(Path(shapes_catalog)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        page.goto(url)
        page.fill("#q", "समुद्र तट पर कुत्ता")
        page.wait_for_selector("#hint:not([hidden])")
        assert "the query looks Hindi, but tiny-shapes reads English only" in page.inner_text("#hint")
        assert page.locator(".tile").count() > 0
        page.fill("#q", "a red circle")
        page.wait_for_selector("#hint", state="hidden")
        browser.close()
