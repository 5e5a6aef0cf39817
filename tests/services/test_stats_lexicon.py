"""Tokenisation (English and Chinese) and the weighted log-odds of Monroe et al. (2008)."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import pytest

from annotate.analysis.lexicon import CHINESE_STOP, lexicon, log_odds, tokenize
from annotate.core.errors import ConfigError
from annotate.ingest import import_file
from store.db import session_scope
from store.models import Annotator, Rationale, RationaleVersion
from tests.factories import ITEMS, session_record, write_jsonl

pytestmark = pytest.mark.both_backends


def test_tokenize_english_words() -> None:
    assert tokenize("The client's follow-up, in turn 7: NOT Done!") == [
        "the", "client's", "follow-up", "in", "turn", "not", "done",
    ]  # fmt: skip


def test_tokenize_chinese_gives_the_segmenters_words() -> None:
    import rjieba

    sentence = "咨询师在第9轮把问题归纳为睡眠和与妈妈的沟通，并让来访者自己选择目标。"
    expected = [
        word
        for word in rjieba.cut(sentence)
        if re.fullmatch(r"[\u4e00-\u9fff]+", word) and word not in CHINESE_STOP
    ]
    assert tokenize(sentence) == expected
    assert "目标" in expected and "目" not in expected and "的" not in expected
    assert tokenize("支持来访者。") == ["支持", "来访者"]


def test_tokenize_mixed_text_keeps_runs_apart() -> None:
    assert tokenize("咨询师用CBT方法（turn 3）") == ["咨询师", "用", "cbt", "方法", "turn"]


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


CHINESE_FIXTURES = {
    "goal": [
        "来访者和咨询师确定了本次咨询的目标，来访者表示同意。",
        "咨询师询问来访者希望达到的目标，双方看法一致。",
        "来访者说出自己的目标是改善睡眠，咨询师认可这个方向。",
        "双方讨论了长期目标和短期安排，来访者觉得清楚。",
        "咨询师总结了来访者的目标，来访者点头确认。",
    ],
    "task": [
        "咨询师介绍了记录情绪的方法，来访者愿意尝试。",
        "来访者觉得放松练习的方法有用，咨询师布置了作业。",
        "双方讨论了应对失眠的方法，来访者提出了疑问。",
        "咨询师解释了练习的步骤和方法，来访者表示理解。",
        "来访者认为这个方法太难，咨询师调整了作业。",
    ],
    "bond": [
        "来访者感到咨询师的支持，说自己被理解了。",
        "咨询师表达了关心和支持，来访者语气放松下来。",
        "来访者信任咨询师，觉得得到了支持。",
        "咨询师耐心倾听，来访者说很感谢这种支持。",
        "来访者在咨询师面前哭了，咨询师给予温暖的支持。",
    ],
}


def test_chinese_lexicon_lists_whole_words_with_the_marker_first(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import rjieba

    texts = {dimension: lines * 6 for dimension, lines in CHINESE_FIXTURES.items()}
    _store_rationales(engine, tmp_path, texts)
    segmented = {word for lines in CHINESE_FIXTURES.values() for line in lines
                 for word in rjieba.cut(line)}  # fmt: skip
    table = lexicon(engine, top=8)
    for dimension, marker in (("goal", "目标"), ("task", "方法"), ("bond", "支持")):
        rows = table[table["dimension"] == dimension]
        assert rows.iloc[0]["word"] == marker, rows[["word", "z"]].to_string()
        assert set(rows["word"]) <= segmented  # the segmenter's own words, no fragments
        assert not {marker[0], marker[1]} & set(rows["word"])  # not its characters
