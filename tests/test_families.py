"""Every CLIP-family pipeline against its reference implementation.

SigLIP (transformers' SiglipModel, the class fixed-resolution SigLIP 2 checkpoints load with)
through picfind's ONNX path in onnx-community's and Immich's graph layouts; OpenCLIP's LAION-2B and
DataComp CLIPs (transformers' CLIPModel with exact GELU, as laion publishes them for transformers)
in rclip's and Immich's layouts; each family's image processor on real photos, and its crop of an
odd margin; tokenizers of SigLIP's kinds against transformers' tokenizer built from the same
tokenizer.json; format-1 bundles; and `models import` of every publisher's folder layout.

OpenCLIP itself is not the reference here: it imports torchvision, and the only torchvision that
installs from the package index (0.28.0 for torch 2.13.0) is the CUDA 13 build, whose compiled
operators need libtorch_cuda.so; with the CPU torch `import torchvision` fails ("operator
torchvision::nms does not exist"), so open_clip cannot be imported either (docs/contributing.md).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from picfind.media.decode import to_rgb
from picfind.models import registry
from picfind.models import store as models
from picfind.models.bundle import Bundle, BundleError, TokenizerSpec, write_manifest
from picfind.models.encoder import Encoder
from picfind.models.preprocess import Preprocessing
from picfind.models.tokenizer import TextTokenizer

from .conftest import REPO, real_photos
from .test_tokenizer import varied_strings

sys.path.insert(0, str(REPO / "scripts"))


@pytest.mark.parametrize("layout", ["split", "immich"])
def test_siglip_embeddings_match_transformers_within_1e_4_batch_and_single(siglip_model, siglip_exported,
                                                                           layout) -> None:
    from convert_clip import parity

    diff = parity(siglip_model, Bundle.load(siglip_exported[layout]))
    print(f"{layout}: max abs difference {diff:.2e}")
    assert diff < 1e-4


@pytest.mark.parametrize("layout", ["rclip", "immich"])
def test_openclip_embeddings_match_the_gelu_clip_within_1e_4_batch_and_single(openclip_model, openclip_exported,
                                                                              layout) -> None:
    from convert_clip import parity

    assert openclip_model.config.vision_config.hidden_act == openclip_model.config.text_config.hidden_act == "gelu"
    diff = parity(openclip_model, Bundle.load(openclip_exported[layout]))
    print(f"{layout}: max abs difference {diff:.2e}")
    assert diff < 1e-4


def test_immich_graphs_take_one_item_and_int32_ids_and_picfind_loops(siglip_exported) -> None:
    import onnxruntime as ort

    bundle = Bundle.load(siglip_exported["immich"])
    text = ort.InferenceSession(str(bundle.path / bundle.text_tower.file)).get_inputs()[0]
    assert text.type == "tensor(int32)" and text.shape == [1, 64]
    assert bundle.image_tower.batch_size == 1
    enc = Encoder(bundle, device="cpu")
    pixels = np.random.default_rng(1).standard_normal((5, 3, 64, 64)).astype(np.float32)
    together = enc.encode_images(pixels)
    assert together.shape == (5, 64)
    assert np.abs(together[3] - enc.encode_images(pixels[3:4])[0]).max() < 1e-6


@pytest.mark.parametrize("family", ["siglip-squash-bicubic-256", "siglip-squash-bilinear-256",
                                    "clip-shortest-bilinear-224"])
def test_preprocessing_matches_the_reference_image_processor_on_real_photos(family: str) -> None:
    """Immich's SigLIP 2 (OpenCLIP's bicubic), onnx-community's (its preprocessor_config.json says
    bilinear), and CLIP's shortest side + crop."""
    from transformers import CLIPImageProcessor, SiglipImageProcessor

    if family.startswith("siglip"):
        resample = Image.Resampling.BICUBIC if "bicubic" in family else Image.Resampling.BILINEAR
        ref = SiglipImageProcessor(size={"height": 256, "width": 256}, resample=resample)
        ours = Preprocessing(256, (0.5,) * 3, (0.5,) * 3, resize_mode="squash", interpolation=family.split("-")[2])
    else:
        ref = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224},
                                 resample=Image.Resampling.BILINEAR)
        ours = Preprocessing(224, interpolation="bilinear")
    worst = 0.0
    for name, arr in real_photos().items():
        img = to_rgb(Image.fromarray(arr))
        expected = ref(images=img, return_tensors="np")["pixel_values"][0]
        got = ours.pixels(img)
        assert got.shape == expected.shape, name
        worst = max(worst, float(np.abs(got - expected).max()))
    print(f"{family}: max abs difference {worst:.2e}")
    assert worst < 1e-5


def torchvision_center_crop_offset(margin: int) -> int:
    """torchvision.transforms.functional.center_crop, which OpenCLIP's and OpenAI's pipelines
    use: `crop_top = int(round((image_height - crop_height) / 2.0))` (quoted: torchvision cannot
    be imported here, see the module's docstring)."""
    return int(round(margin / 2.0))


@pytest.mark.parametrize("crop", ["floor", "round"])
def test_an_odd_crop_margin_goes_where_each_familys_reference_puts_it(crop: str) -> None:
    """floor: CLIPImageProcessor's own crop (Xenova's exports); round: CLIPImageProcessor's resize,
    then torchvision's crop offsets (OpenCLIP: rclip's and Immich's exports). Real photos plus
    sizes whose long side keeps 1, 2, 3, 5, 7 and 11 pixels of margin, both ways round."""
    from transformers import CLIPImageProcessor

    size = 224
    crop_ref = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    resize_ref = CLIPImageProcessor(size={"shortest_edge": size}, do_center_crop=False)
    ours = Preprocessing(size, crop=crop)
    photo = to_rgb(Image.fromarray(real_photos()["chelsea"]))
    pictures = [to_rgb(Image.fromarray(a)) for a in real_photos().values()]
    for margin in (1, 2, 3, 5, 7, 11):  # resized to size x (size + margin): the long side keeps `margin`
        wide = photo.resize((size + margin, size), Image.Resampling.BICUBIC)
        pictures += [wide, wide.transpose(Image.Transpose.ROTATE_90)]
    moved = 0
    for img in pictures:
        if crop == "floor":
            expected = crop_ref(images=img, return_tensors="np")["pixel_values"][0]
        else:
            resized = resize_ref(images=img, return_tensors="np")["pixel_values"][0]
            top = torchvision_center_crop_offset(resized.shape[1] - size)
            left = torchvision_center_crop_offset(resized.shape[2] - size)
            expected = resized[:, top:top + size, left:left + size]
        got = ours.pixels(img)
        assert np.abs(got - expected).max() < 1e-5, img.size
        margin = max(ours.resized_size(*img.size)) - size
        moved += torchvision_center_crop_offset(margin) != margin // 2
    assert moved >= 4  # margins of 3, 7 and 11 in both orientations, and some real photos: the modes differ


def canonicalize_reference(text: str) -> str:
    """OpenCLIP's SigLIP clean-up (`tokenizer.py`: basic_clean, then canonicalize_text, from
    big_vision), spelled out from its description: ftfy, HTML unescape twice, underscores to
    spaces, ASCII punctuation removed, lower case, whitespace collapsed."""
    import html
    import string

    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    text = text.replace("_", " ")
    text = "".join(c for c in text if c not in string.punctuation).lower()
    return " ".join(text.split()).strip()


@pytest.mark.parametrize("kind", ["gemma", "t5"])
def test_ids_match_transformers_tokenizer_built_from_the_same_tokenizer_json(sentencepiece_tokenizers,
                                                                             kind: str) -> None:
    from transformers import PreTrainedTokenizerFast

    path = sentencepiece_tokenizers[kind]
    ref = PreTrainedTokenizerFast(tokenizer_file=str(path), pad_token="<pad>")
    ours = TextTokenizer(path, TokenizerSpec(file="tokenizer.json", context_length=64, pad_to=64,
                                             pad_id=ref.pad_token_id, clean="canonicalize"))
    strings = [*varied_strings(600), "Snake_case AND Punctuation!!! (yes)", "lower, UPPER; mixed."]
    # OpenCLIP's HFTokenizer for SigLIP: clean, then the tokenizer with max_length padding and truncation
    expected = ref([canonicalize_reference(s) for s in strings], max_length=64, padding="max_length",
                   truncation=True)["input_ids"]
    got = ours.batch(strings)
    bad = [s for s, g, e in zip(strings, got.tolist(), expected) if g != e]
    assert not bad, f"{len(bad)} strings differ, e.g. {bad[:3]!r}"
    long = ours.batch(["a red dog on the beach at sunset " * 60])[0]
    assert len(long) == 64 and long[-1] == ref.convert_tokens_to_ids("<eos>" if kind == "gemma" else "</s>")
    assert ours.ids("A Dog, asleep!") == ours.ids("a dog asleep")


def test_an_appended_end_token_is_kept_when_a_text_is_cut(sentencepiece_tokenizers, tmp_path: Path) -> None:
    """`end_token` (for a tokenizer.json without a post-processor) gives what the post-processor gives."""
    path = sentencepiece_tokenizers["gemma"]
    bare = json.loads(path.read_text())
    bare["post_processor"] = None
    (tmp_path / "bare.json").write_text(json.dumps(bare))
    spec = TokenizerSpec(file="tokenizer.json", context_length=64, pad_to=64, clean="canonicalize")
    with_post = TextTokenizer(path, spec)
    appended = TextTokenizer(tmp_path / "bare.json", TokenizerSpec(**{**spec.__dict__, "end_token": "<eos>"}))
    for s in [*varied_strings(200), "a red dog on the beach at sunset " * 60]:
        assert appended.ids(s) == with_post.ids(s), s


def test_a_format_1_bundle_reads_as_clip_and_embeds_exactly_as_rewritten_in_format_2(tmp_path: Path) -> None:
    tiny = models.resolve("tiny-shapes")
    assert json.loads((tiny.path / "manifest.json").read_text())["format"] == 1
    assert tiny.text == TokenizerSpec() and tiny.preprocessing == Preprocessing(64)
    copy = tmp_path / "tiny-v2"
    shutil.copytree(tiny.path, copy)
    write_manifest(copy, {k: v for k, v in tiny.manifest.items() if k not in ("files", "format")})
    v2 = Bundle.load(copy)
    assert json.loads((copy / "manifest.json").read_text())["format"] == 2 and v2.verify() == []
    texts = ["a red circle", "two blue squares"]
    pixels = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    a, b = Encoder(tiny, device="cpu"), Encoder(v2, device="cpu")
    assert np.array_equal(a.encode_texts(texts), b.encode_texts(texts))
    assert np.array_equal(a.encode_images(pixels), b.encode_images(pixels))


def test_a_half_precision_export_taking_float16_pixels_embeds_like_the_float32_one(tmp_path: Path) -> None:
    """Xenova's `*_fp16.onnx` (`vit-b-32-fp16`) are converted to float16 throughout; a graph whose
    input is float16 gets its pixels cast, and its vectors agree with the float32 graph's."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    tiny = models.resolve("tiny-shapes")
    half = tmp_path / "tiny-fp16"
    shutil.copytree(tiny.path, half)
    for tower in (tiny.image_tower, tiny.text_tower):
        graph = convert_float_to_float16(onnx.load(str(tiny.path / tower.file)), keep_io_types=False)
        assert graph.graph.input[0].type.tensor_type.elem_type in (onnx.TensorProto.FLOAT16, onnx.TensorProto.INT64)
        onnx.save(graph, str(half / tower.file))
    write_manifest(half, {k: v for k, v in tiny.manifest.items() if k not in ("files", "format")})
    pixels = np.stack([Preprocessing(64).pixels(to_rgb(Image.fromarray(a))) for a in real_photos().values()])
    full, reduced = Encoder(tiny, device="cpu"), Encoder(Bundle.load(half), device="cpu")
    assert (full.encode_images(pixels) * reduced.encode_images(pixels)).sum(1).min() > 0.999
    assert (full.encode_texts(["a red circle"]) * reduced.encode_texts(["a red circle"])).sum() > 0.999


def test_a_manifest_asking_for_an_unknown_pipeline_is_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    shutil.copytree(models.resolve("tiny-shapes").path, folder)
    manifest = Bundle.load(folder).manifest
    manifest["preprocess"]["resize"] = "letterbox"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="preprocess.resize 'letterbox' is not one of shortest, squash"):
        Bundle.load(folder)


def test_a_graph_wanting_an_input_the_manifest_does_not_give_is_one_clear_error(siglip_exported,
                                                                                 tmp_path: Path) -> None:
    folder = tmp_path / "masked"
    shutil.copytree(siglip_exported["split"], folder)
    manifest = Bundle.load(folder).manifest
    manifest["text_encoder"]["attention_mask"] = "attention_mask"  # the graph has no such input
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="text_model.onnx takes input_ids but its manifest.json gives "
                                          "attention_mask, input_ids"):
        Encoder(Bundle.load(folder), device="cpu").encode_texts(["a cat"])


PUBLISHERS = {
    # name: (registry entry built by the registry's own helper with tiny shapes, which export, which model)
    "onnx-community": (lambda: registry._onnx_community("t-oc", "test", "org/oc", "main", 64, 64,
                                                        ((1, None), (1, None), (1, None))), "siglip", "split"),
    "immich-siglip": (lambda: registry._immich("t-ims", "test", "Apache-2.0", "org/ims", "main", 64, 64,
                                               ((1, None), (1, None), (1, None)), siglip=True), "siglip", "immich"),
    "immich-clip": (lambda: registry._immich("t-imc", "test", "MIT", "org/imc", "main", 64, 64, ((1, None), (1, None))),
                    "openclip", "immich"),
    "rclip": (lambda: registry._rclip("t-rc", "test", "ViT-B-32-256-datacomp_s34b_b86k", 64, 64,
                                      ((1, None), (1, None))), "openclip", "rclip"),
}


@pytest.mark.parametrize("publisher", sorted(PUBLISHERS))
def test_models_import_of_each_publishers_layout(publisher: str, siglip_model, siglip_exported, openclip_model,
                                                 openclip_exported, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from convert_clip import parity

    make_entry, family, layout = PUBLISHERS[publisher]
    entry = make_entry()
    export, model = (siglip_exported, siglip_model) if family == "siglip" else (openclip_exported, openclip_model)
    monkeypatch.setitem(models.REGISTRY, entry.name, entry)
    download = tmp_path / "as-downloaded"  # the files where the publisher keeps them
    for f in entry.files:
        (download / f.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(export[layout] / f.local, download / f.path)
    bundle = models.import_folder(download, as_name=entry.name)
    assert bundle.verify() == [] and bundle.name == entry.name
    assert parity(model, bundle) < 1e-4
