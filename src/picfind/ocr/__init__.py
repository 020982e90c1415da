"""Reading the words in pictures (PaddleOCR on ONNX Runtime) and matching a query to them."""
