"""Search: combined queries, ranking grouped by content, text fused with OCR, duplicates."""
