"""Guidelines load as validated, versioned data; another instrument can be loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotate.core.errors import ConfigError
from annotate.core.guidelines import (
    GUIDELINES_DIR,
    default_instrument,
    load_instrument,
    load_manual,
    load_rubric,
)
from annotate.core.instruments import install_instrument
from annotate.ingest import import_file
from store.db import session_scope
from store.models import Item
from tests.factories import session_record, write_jsonl


def test_wai_sr_has_twelve_items_four_per_dimension() -> None:
    spec = default_instrument()
    assert len(spec.items) == 12
    for dimension in ("goal", "task", "bond"):
        assert sum(item.dimension == dimension for item in spec.items) == 4
    assert spec.anchor(1) == "Seldom" and spec.anchor(5) == "Always"
    assert spec.version and spec.wording == "paraphrase"


def test_rubric_and_manual_are_versioned() -> None:
    rubric = load_rubric()
    assert rubric.threshold == 3 and set(rubric.criteria) == {
        "faithfulness",
        "relevance",
        "informativeness",
    }
    assert all(len(c.scores) == 5 for c in rubric.criteria.values())
    assert rubric.passes({"faithfulness": 3, "relevance": 5, "informativeness": 3})
    assert not rubric.passes({"faithfulness": 2, "relevance": 5, "informativeness": 5})
    manual = load_manual()
    assert manual.version == "1.0.0" and "Polite words versus behaviour" in manual.text


def test_bad_instrument_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    text = (GUIDELINES_DIR / "instruments" / "wai_sr.toml").read_text()
    path.write_text(text.replace('dimension = "bond"', 'dimension = "bnod"', 1))
    with pytest.raises(ConfigError, match="unknown dimension 'bnod'"):
        load_instrument(path)
    path.write_text(text + "\nsurprise = 1\n")
    with pytest.raises(ConfigError, match="surprise"):
        load_instrument(path)


def test_rupture_instrument_loads_beside_wai_sr(engine, tmp_path: Path) -> None:
    spec = load_instrument(GUIDELINES_DIR / "instruments" / "rupture.toml")
    with session_scope(engine) as session:  # every new store has it: loading it again is a no-op
        assert not install_instrument(session, spec)
    edited = spec.model_copy(update={"version": "1.0.1"})
    with session_scope(engine) as session:
        assert install_instrument(session, edited)
    with session_scope(engine) as session:
        assert not install_instrument(session, edited)
        item = session.get(Item, "rupture_1")
        assert item is not None and item.binary_above == 1
    ratings = {**session_record()["client_ratings"], "rupture_1": 2}
    path = write_jsonl(tmp_path / "s.jsonl", [session_record("r", client_ratings=ratings)])
    assert import_file(engine, path).created == 1
