"""Tokenisation (English and Chinese) and the weighted log-odds of Monroe et al. (2008)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from annotate.errors import ConfigError
from annotate.importing import import_file
from annotate.stats.lexicon import lexicon, log_odds, tokenize
from store.db import session_scope
from store.models import Annotator, Rationale, RationaleVersion
from tests.factories import ITEMS, session_record, write_jsonl

pytestmark = pytest.mark.both_backends


def test_tokenize_english_words() -> None:
    assert tokenize("The client's follow-up, in turn 7: NOT Done!") == [
        "the", "client's", "follow-up", "in", "turn", "not", "done",
    ]  # fmt: skip


def test_tokenize_chinese_characters_and_bigrams() -> None:
    assert tokenize("支持来访者。") == [
        "支",
        "持",
        "来",
        "访",
        "者",
        "支持",
        "持来",
        "来访",
        "访者",
    ]


def test_tokenize_mixed_text_keeps_runs_apart() -> None:
    tokens = tokenize("咨询师用CBT方法（turn 3）")
    assert tokens == [
        "咨",
        "询",
        "师",
        "用",
        "咨询",
        "询师",
        "师用",
        "cbt",
        "方",
        "法",
        "方法",
        "turn",
    ]


def test_log_odds_hand_computed_two_documents() -> None:
    # document i: "goal goal plan"; document j: "plan trust"; prior = both together
    #   goal:  delta = log(4/4) - log(2/5)           =  0.916291, var = 1/4 + 1/2
    #   plan:  delta = log(3/5) - log(3/4)           = -0.223144, var = 1/3 + 1/3
    #   trust: delta = log(1/7) - log(2/5)           = -1.029619, var = 1/1 + 1/2
    group, rest = Counter(tokenize("goal goal plan")), Counter(tokenize("plan trust"))
    scored = {word: (delta, z) for word, delta, z in log_odds(group, rest, group + rest)}
    assert scored["goal"] == (pytest.approx(0.916291, abs=1e-6), pytest.approx(1.058042, abs=1e-6))
    assert scored["plan"] == (
        pytest.approx(-0.223144, abs=1e-6),
        pytest.approx(-0.273294, abs=1e-6),
    )
    assert scored["trust"] == (
        pytest.approx(-1.029619, abs=1e-6),
        pytest.approx(-0.840681, abs=1e-6),
    )


def test_log_odds_prior_strength_rescales_the_prior() -> None:
    group, rest = Counter(["a", "a", "b"]), Counter(["b", "c"])
    prior = group + rest
    # a prior of strength 10 is the corpus counts doubled: a_w = 4, 4, 2 and a_0 = 10
    scored = {w: z for w, _, z in log_odds(group, rest, prior, prior_strength=10)}
    expected = (math.log(6 / 7) - math.log(4 / 8)) / math.sqrt(1 / 6 + 1 / 4)
    assert scored["a"] == pytest.approx(expected)


def _store_rationales(engine, tmp_path: Path, texts: dict[str, list[str]]) -> None:  # type: ignore[no-untyped-def]
    """Accepted rationales: texts[dimension][k] goes to session k, first item of dimension."""
    sessions = max(len(v) for v in texts.values())
    records = [session_record(f"s{k}") for k in range(sessions)]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", records))
    with session_scope(engine) as session:
        session.add(Annotator(id="ana"))
        for dimension, dimension_texts in texts.items():
            item = next(i for i in ITEMS if i.startswith(dimension))
            for k, text in enumerate(dimension_texts):
                rationale = Rationale(session_id=f"s{k}", item_id=item, author_id="ana",
                                      status="accepted", lock_version=1,
                                      current_version=1)  # fmt: skip
                session.add(rationale)
                session.flush()
                session.add(RationaleVersion(rationale_id=rationale.id, version=1, text=text,
                                             author_id="ana"))  # fmt: skip


def test_lexicon_finds_markers_in_english_and_chinese(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    common = "the client and the counselor talked in the session"
    texts = {
        "goal": [f"{common} to establish a shared goal; 目标一致" for _ in range(30)],
        "task": [f"{common} about a method for homework; 方法有用" for _ in range(30)],
        "bond": [f"{common} and felt support and trust; 感到支持" for _ in range(30)],
    }
    _store_rationales(engine, tmp_path, texts)
    table = lexicon(engine, top=12)
    assert list(dict.fromkeys(table["dimension"])) == ["goal", "task", "bond"]
    for dimension, markers in (("goal", {"establish", "目标"}), ("task", {"method", "方法"}),
                               ("bond", {"support", "支持"})):  # fmt: skip
        rows = table[table["dimension"] == dimension].set_index("word")
        for word in markers:
            assert rows.loc[word, "z"] > 3 and rows.loc[word, "significant"]
        assert "the" not in rows.index or not rows.loc["the", "significant"]
        assert rows["z"].is_monotonic_decreasing
        assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
    bond = table[table["dimension"] == "bond"].set_index("word")
    assert (bond.loc["支持", "count"], bond.loc["支持", "other_count"]) == (30, 0)
    only_task = lexicon(engine, dimension="task", top=3)
    assert set(only_task["dimension"]) == {"task"} and len(only_task) == 3


def test_unknown_dimension_is_an_error(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="unknown dimension"):
        lexicon(engine, dimension="trust")


def test_empty_store_gives_an_empty_table(engine) -> None:  # type: ignore[no-untyped-def]
    assert lexicon(engine).empty
