"""CLIP model bundles on ONNX Runtime: the registry, download/import, tokenizers, preprocessing, encoders."""
