"""Load the versioned guideline data in ``guidelines/`` into validated models."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from annotate.core import reading
from annotate.core.errors import ConfigError

GUIDELINES_DIR = Path(__file__).resolve().parents[2] / "guidelines"
DEFAULT_INSTRUMENT = GUIDELINES_DIR / "instruments" / "wai_sr.toml"
RUPTURE_INSTRUMENT = GUIDELINES_DIR / "instruments" / "rupture.toml"
DEFAULT_MARKERS = GUIDELINES_DIR / "markers" / "3rs.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Bounds on what a guideline file may say: a file is read whole and kept in every
# store, so each value has a size (see the README's Reliability section).
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Version = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.+-]{1,32}$")]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
# A rating scale of 2 to 100 points, its ends within -1000..1000.
ScaleEnd = Annotated[StrictInt, Field(ge=-1000, le=1000)]
MAX_SCALE_POINTS = 100
MAX_ITEMS = 500
MAX_CODES = 100


class Dimension(_Strict):
    name: Name
    definition: Text


class InstrumentItem(_Strict):
    id: Identifier
    dimension: Identifier
    text: Text
    # A binary item: a rating above this value counts as "yes" (rupture: above 1).
    binary_above: ScaleEnd | None = None
    # The counselor form's wording (None: the client form serves both speakers).
    counselor_text: Text | None = None


class InstrumentSpec(_Strict):
    """An instrument file: items, dimensions and the scale with its anchor labels."""

    id: Identifier
    name: Name
    version: Version
    wording: Identifier = "paraphrase"
    # False: rated, analysed, never explained (no rationale work). A real TOML boolean:
    # "no" or 0 is refused rather than read as false.
    rationales: StrictBool = True
    scale_min: ScaleEnd
    scale_max: ScaleEnd
    anchors: dict[int, Name] = Field(max_length=MAX_SCALE_POINTS)
    dimensions: dict[Identifier, Dimension] = Field(min_length=1, max_length=50)
    items: list[InstrumentItem] = Field(min_length=1, max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _consistent(self) -> InstrumentSpec:
        if self.scale_min >= self.scale_max:
            raise ValueError("scale_min must be below scale_max")
        points = self.scale_max - self.scale_min + 1
        if points > MAX_SCALE_POINTS:
            raise ValueError(
                f"a scale has 2 to {MAX_SCALE_POINTS} points; "
                f"{self.scale_min}..{self.scale_max} has {points}"
            )
        expected = set(range(self.scale_min, self.scale_max + 1))
        if set(self.anchors) != expected:
            raise ValueError(f"anchors must label exactly {sorted(expected)}")
        ids = [item.id for item in self.items]
        if len(ids) != len(set(ids)):
            raise ValueError("item ids must be unique")
        for item in self.items:
            if item.dimension not in self.dimensions:
                raise ValueError(f"item {item.id}: unknown dimension {item.dimension!r}")
            if item.binary_above is not None and not (
                self.scale_min <= item.binary_above < self.scale_max
            ):
                raise ValueError(
                    f"item {item.id}: binary_above must be in {self.scale_min}.."
                    f"{self.scale_max - 1} so that both answers are possible"
                )
        return self

    def anchor(self, value: int) -> str:
        return self.anchors[value]


class MarkerFamily(_Strict):
    name: Name
    definition: Text


class MarkerCode(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    family: Identifier
    name: Name
    definition: Text
    key: str = Field(pattern=r"^[a-z0-9]$")  # the key that toggles it in the UI
    examples: list[Text] = Field(min_length=1, max_length=50)


class MarkerScheme(_Strict):
    """A turn-level marker scheme (3RS by default): families, codes, hinter cues."""

    id: Identifier
    name: Name
    version: Version
    families: dict[Identifier, MarkerFamily] = Field(min_length=1, max_length=20)
    codes: list[MarkerCode] = Field(min_length=1, max_length=MAX_CODES)
    # language -> code id -> cue phrases the offline hinter looks for (lower case)
    cues: dict[Identifier, dict[str, list[Name]]] = Field(default_factory=dict, max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> MarkerScheme:
        ids = [code.id for code in self.codes]
        if len(ids) != len(set(ids)):
            raise ValueError("code ids must be unique")
        keys = [code.key for code in self.codes]
        if len(keys) != len(set(keys)):
            raise ValueError("code keys must be unique")
        for code in self.codes:
            if code.family not in self.families:
                raise ValueError(f"code {code.id}: unknown family {code.family!r}")
        for language, table in self.cues.items():
            for code_id in table:
                if code_id not in ids:
                    raise ValueError(f"cues.{language}: unknown code {code_id!r}")
        return self

    def code(self, code_id: str) -> MarkerCode:
        for code in self.codes:
            if code.id == code_id:
                return code
        raise KeyError(code_id)

    @property
    def code_ids(self) -> list[str]:
        return [code.id for code in self.codes]


class Criterion(_Strict):
    name: Name
    question: Text
    scores: dict[int, Text] = Field(max_length=MAX_SCALE_POINTS)
    # A column heading in narrow tables (progress); the first five letters of the name
    # when the file gives none.
    short: Annotated[str, Field(min_length=1, max_length=12)] | None = None

    @property
    def heading(self) -> str:
        return self.short or self.name[:5].lower()


class Rubric(_Strict):
    """The cross-review rubric with its acceptance threshold."""

    version: Version
    threshold: ScaleEnd
    scale_min: ScaleEnd
    scale_max: ScaleEnd
    criteria: dict[Identifier, Criterion] = Field(min_length=1, max_length=20)

    def passes(self, scores: Mapping[str, int]) -> bool:
        return all(scores[name] >= self.threshold for name in self.criteria)

    @property
    def names(self) -> tuple[str, ...]:
        """The criteria's ids, in the file's order: what a review scores."""
        return tuple(self.criteria)

    def ordered(self, scores: Mapping[str, int]) -> dict[str, int]:
        """``scores`` in the rubric's order (scores of other criteria after them)."""
        known = {name: scores[name] for name in self.criteria if name in scores}
        return {**known, **{name: value for name, value in scores.items() if name not in known}}


class Manual(_Strict):
    version: Version
    title: Name
    text: str


def _load(model: type[_Strict], path: Path) -> _Strict:
    """A guideline TOML file read with the shared limits and validated as ``model``."""
    text = reading.read_text(path, reading.MAX_TOML_BYTES, "TOML file")
    return reading.validated(model, path, reading.load_toml(path, text), text)


def load_instrument(path: Path | str = DEFAULT_INSTRUMENT) -> InstrumentSpec:
    """Load and validate an instrument file (TOML)."""
    path = Path(path)
    return _load(InstrumentSpec, path)  # type: ignore[return-value]


@cache
def default_instrument() -> InstrumentSpec:
    return load_instrument(DEFAULT_INSTRUMENT)


def load_markers(path: Path | str = DEFAULT_MARKERS) -> MarkerScheme:
    """Load and validate a marker scheme file (TOML)."""
    path = Path(path)
    return _load(MarkerScheme, path)  # type: ignore[return-value]


@cache
def default_markers() -> MarkerScheme:
    return load_markers(DEFAULT_MARKERS)


@cache
def load_rubric(path: Path | str = GUIDELINES_DIR / "rubric.toml") -> Rubric:
    path = Path(path)
    return _load(Rubric, path)  # type: ignore[return-value]


def rubric_from_row(row: Sequence[Any] | None) -> Rubric:
    """The rubric of a ``rubrics`` row (version, threshold, scale_min, scale_max,
    criteria), or the packaged one for None."""
    if row is None:
        return load_rubric()
    version, threshold, scale_min, scale_max, criteria = row
    if isinstance(criteria, str):  # SQLite hands plain SQL's JSON back as text
        criteria = json.loads(criteria)
    return Rubric.model_validate(
        {"version": version, "threshold": threshold, "scale_min": scale_min,
         "scale_max": scale_max, "criteria": criteria}
    )  # fmt: skip


@cache
def load_manual(path: Path | str = GUIDELINES_DIR / "manual.md") -> Manual:
    """The manual is Markdown with a TOML front matter between ``+++`` lines."""
    path = Path(path)
    raw = reading.read_text(path, reading.MAX_TOML_BYTES, "manual")
    parts = raw.split("+++", 2)
    if len(parts) != 3 or parts[0].strip():
        raise ConfigError(f"{path}: expected TOML front matter between +++ lines")
    meta = reading.load_toml(path, parts[1], first_line=1 + parts[0].count("\n"))
    return reading.validated(Manual, path, {**meta, "text": parts[2].strip()}, parts[1])


# The offline drafter's texts and cue words (``annotate.drafting.offline`` drafts with
# them; ``annotate.work.rationales.scaffold`` keeps their instruction sentences out of
# accepted work).
OFFLINE_SPEC = GUIDELINES_DIR / "prompts" / "offline.toml"


class OfflineText(_Strict):
    label: str
    body: str
    quote: str
    joiner: str
    scaffolding: list[str]  # the body's instruction and template sentences (not evidence)

    @model_validator(mode="after")
    def _scaffolding_is_in_the_body(self) -> OfflineText:
        for sentence in self.scaffolding:
            if sentence not in self.body:
                raise ValueError(f"scaffolding sentence {sentence!r} is not part of the body")
        return self


class OfflineSpec(_Strict):
    version: str
    model: str
    evidence_turns: int
    quote_chars: int
    cues: dict[str, list[str]]
    text: dict[str, OfflineText]


@cache
def load_offline_spec(path: Path = OFFLINE_SPEC) -> tuple[OfflineSpec, str]:
    raw = reading.read_bytes(path, reading.MAX_TOML_BYTES, "offline drafter's TOML")
    text = reading.decode(path, raw)
    spec = reading.validated(OfflineSpec, path, reading.load_toml(path, text), text)
    return spec, hashlib.sha256(raw).hexdigest()
