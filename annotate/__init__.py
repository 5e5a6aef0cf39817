"""annotate: expert curation of LLM-drafted rationales for alliance ratings."""

__version__ = "0.1.0"
