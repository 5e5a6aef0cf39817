"""What ``annotate export`` can be told: one frozen record both exports read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ExportOptions:
    """Everything ``annotate export`` can be told."""

    fmt: str
    out_dir: Path
    folds: int | str | None = None  # K, or "loco" (one fold per client)
    seed: int = 0
    min_score: int | None = None
    include_unreviewed: bool = False
    target: str = "both"
    parquet: bool = False
    instrument_id: str = "wai-sr"
    dpo_min_edit: float = 0.1
    force: bool = False
    conversational: bool = False  # dpo: TRL's conversational preference format
    prompt_metadata: tuple[str, ...] = ()  # session metadata keys for the prompt's header
    scheme_id: str = "3rs"  # markers: the marker scheme whose codings are exported
    # Identifiers in every text replaced by the client's surrogates (annotate.export.deidentify)
    deidentify: bool = False
    deidentify_mode: str = "surrogate"  # surrogate | tag
