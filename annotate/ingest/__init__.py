"""Validated, transactional import of sessions, rationales and reviews (JSONL or CSV)."""

from annotate.ingest.service import ImportResult, import_file

__all__ = ["ImportResult", "import_file"]
