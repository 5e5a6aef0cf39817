"""Load the versioned guideline data in ``guidelines/`` into validated models."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from annotate.errors import ConfigError

GUIDELINES_DIR = Path(__file__).resolve().parent.parent / "guidelines"
DEFAULT_INSTRUMENT = GUIDELINES_DIR / "instruments" / "wai_sr.toml"
RUPTURE_INSTRUMENT = GUIDELINES_DIR / "instruments" / "rupture.toml"
DEFAULT_MARKERS = GUIDELINES_DIR / "markers" / "3rs.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dimension(_Strict):
    name: str
    definition: str


class InstrumentItem(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    dimension: str
    text: str
    # A binary item: a rating above this value counts as "yes" (rupture: above 1).
    binary_above: int | None = None


class InstrumentSpec(_Strict):
    """An instrument file: items, dimensions and the scale with its anchor labels."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str
    version: str
    wording: str = "paraphrase"
    rationales: bool = True  # False: rated, analysed, never explained (no rationale work)
    scale_min: int
    scale_max: int
    anchors: dict[int, str]
    dimensions: dict[str, Dimension]
    items: list[InstrumentItem]

    @model_validator(mode="after")
    def _consistent(self) -> InstrumentSpec:
        if self.scale_min >= self.scale_max:
            raise ValueError("scale_min must be below scale_max")
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
    name: str
    definition: str


class MarkerCode(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    family: str
    name: str
    definition: str
    key: str = Field(pattern=r"^[a-z0-9]$")  # the key that toggles it in the UI
    examples: list[str] = Field(min_length=1)


class MarkerScheme(_Strict):
    """A turn-level marker scheme (3RS by default): families, codes, hinter cues."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str
    version: str
    families: dict[str, MarkerFamily]
    codes: list[MarkerCode]
    # language -> code id -> cue phrases the offline hinter looks for (lower case)
    cues: dict[str, dict[str, list[str]]] = Field(default_factory=dict)

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
    name: str
    question: str
    scores: dict[int, str]


class Rubric(_Strict):
    """The cross-review rubric with its acceptance threshold."""

    version: str
    threshold: int
    scale_min: int
    scale_max: int
    criteria: dict[str, Criterion]

    def passes(self, scores: dict[str, int]) -> bool:
        return all(scores[name] >= self.threshold for name in self.criteria)


class Manual(_Strict):
    version: str
    title: str
    text: str


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def _validated(model: type[_Strict], path: Path, data: dict):  # type: ignore[no-untyped-def]
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None


def load_instrument(path: Path | str = DEFAULT_INSTRUMENT) -> InstrumentSpec:
    """Load and validate an instrument file (TOML)."""
    path = Path(path)
    return _validated(InstrumentSpec, path, _read_toml(path))


@cache
def default_instrument() -> InstrumentSpec:
    return load_instrument(DEFAULT_INSTRUMENT)


def load_markers(path: Path | str = DEFAULT_MARKERS) -> MarkerScheme:
    """Load and validate a marker scheme file (TOML)."""
    path = Path(path)
    return _validated(MarkerScheme, path, _read_toml(path))


@cache
def default_markers() -> MarkerScheme:
    return load_markers(DEFAULT_MARKERS)


@cache
def load_rubric(path: Path | str = GUIDELINES_DIR / "rubric.toml") -> Rubric:
    path = Path(path)
    return _validated(Rubric, path, _read_toml(path))


@cache
def load_manual(path: Path | str = GUIDELINES_DIR / "manual.md") -> Manual:
    """The manual is Markdown with a TOML front matter between ``+++`` lines."""
    path = Path(path)
    raw = path.read_text(encoding="utf-8")
    parts = raw.split("+++", 2)
    if len(parts) != 3 or parts[0].strip():
        raise ConfigError(f"{path}: expected TOML front matter between +++ lines")
    try:
        meta = tomllib.loads(parts[1])
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: front matter is not valid TOML: {error}") from None
    return _validated(Manual, path, {**meta, "text": parts[2].strip()})
