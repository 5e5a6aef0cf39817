"""The de-identification test corpus (issue #26) and the benchmark's scorer.

The corpus is valid (every annotation an exact substring of its turn, every occurrence
of a planted identifier in its session annotated, the minimum counts per category and
language, no identifier shared between dev and held-out), the JSONL is the build of
its marked-up source, the scorer counts what it should, and the detector reaches the
goals of the issue on the held-out split.
"""

from __future__ import annotations

import collections
import re

import pytest

from bench.bench_deid import (
    CATEGORIES,
    LANGUAGES,
    is_found,
    is_kept,
    known_names,
    load_split,
    locate,
    occurrences,
    score,
)
from tests.deid.corpus import SPLITS, build, dump

SESSIONS = {"dev": {"en": 12, "zh": 6}, "heldout": {"en": 40, "zh": 20}}
MIN_PER_CATEGORY = {"en": 15, "zh": 8}  # held-out split
MIN_KEEP = {"en": 150, "zh": 60}  # held-out split
GOAL_OVERALL, GOAL_CELL, GOAL_KEEP = 0.95, 0.90, 0.90


@pytest.fixture(scope="module", params=SPLITS)
def split(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, load_split(request.param)


def test_jsonl_is_the_build_of_its_source(split: tuple[str, list[dict]]) -> None:
    name, records = split
    assert dump(build(name)) == "".join(dump([r]) for r in records)


def test_records_have_the_shape_of_the_contract(split: tuple[str, list[dict]]) -> None:
    name, records = split
    languages = collections.Counter(r["language"] for r in records)
    assert dict(languages) == SESSIONS[name]
    assert len({r["session_id"] for r in records}) == len(records)
    for r in records:
        assert set(r) <= {"session_id", "client_id", "language", "metadata", "turns",
                          "identifiers", "keep"}  # fmt: skip
        assert 8 <= len(r["turns"]) <= 16, r["session_id"]
        assert all(t["speaker"] in ("client", "counselor") and t["text"] for t in r["turns"])
        assert all(i["category"] in CATEGORIES for i in r["identifiers"])
        if "metadata" in r:
            names = known_names(r)
            assert names and all(n.strip() == n for n in names)


def test_every_entry_is_an_exact_substring_of_its_turn(split: tuple[str, list[dict]]) -> None:
    _, records = split
    for r in records:
        turns = [t["text"] for t in r["turns"]]
        for entry in r["identifiers"] + r["keep"]:
            assert entry["text"] in turns[entry["turn"]], (r["session_id"], entry)
            assert entry["text"] == entry["text"].strip(), (r["session_id"], entry)
        locate(turns, r["identifiers"])  # the k-th listing is there k times
        locate(turns, r["keep"])


def test_every_occurrence_of_an_identifier_is_annotated(split: tuple[str, list[dict]]) -> None:
    """A planted string said again in the session is listed again (else recall would
    not count it and a leak would go unseen); ordinary words never overlap identifiers."""
    _, records = split
    for r in records:
        turns = [t["text"] for t in r["turns"]]
        ids = locate(turns, r["identifiers"])
        for text in {i["text"] for i in r["identifiers"]}:
            for t, turn in enumerate(turns):
                for start in occurrences(turn, text):
                    assert any(
                        a == t and s <= start and start + len(text) <= e for a, s, e in ids
                    ), (r["session_id"], t, text)
        for t, start, end in locate(turns, r["keep"]):
            assert not any(a == t and s < end and start < e for a, s, e in ids), (
                r["session_id"],
                t,
                turns[t][start:end],
            )


def test_heldout_plants_every_category_often_enough() -> None:
    records = load_split("heldout")
    planted = collections.Counter((r["language"], i["category"]) for r in records
                                  for i in r["identifiers"])  # fmt: skip
    keep = collections.Counter(r["language"] for r in records for _ in r["keep"])
    for language in LANGUAGES:
        for category in CATEGORIES:
            assert planted[(language, category)] >= MIN_PER_CATEGORY[language], (
                language,
                category,
            )
        assert keep[language] >= MIN_KEEP[language], language


def test_both_splits_plant_every_category_in_both_languages() -> None:
    for name in SPLITS:
        planted = {(r["language"], i["category"]) for r in load_split(name)
                   for i in r["identifiers"]}  # fmt: skip
        assert planted == {(lang, c) for lang in LANGUAGES for c in CATEGORIES}, name


def test_heldout_has_identifiers_split_over_turns() -> None:
    """A phone number said in two parts in consecutive turns of the same speaker."""
    split_phones = 0
    for r in load_split("heldout"):
        phones = [i for i in r["identifiers"] if i["category"] == "phone"]
        split_phones += sum(1 for a in phones for b in phones if b["turn"] == a["turn"] + 2)
    assert split_phones >= 3


def test_no_identifier_is_shared_between_dev_and_heldout() -> None:
    dev = {i["text"].casefold() for r in load_split("dev") for i in r["identifiers"]}
    heldout = {i["text"].casefold() for r in load_split("heldout") for i in r["identifiers"]}
    assert dev & heldout == set()
    assert not {r["client_id"] for r in load_split("dev")} & {
        r["client_id"] for r in load_split("heldout")
    }


class _Span:
    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end


def _oracle(records: list[dict], widen: int = 0):
    """A detector that finds exactly the planted identifiers (optionally WIDEN chars wider)."""
    by_text = {tuple(t["text"] for t in r["turns"]): r for r in records}

    def detect(texts, language, known):
        r = by_text[tuple(texts)]
        spans: list[list[_Span]] = [[] for _ in texts]
        for t, s, e in locate(list(texts), r["identifiers"]):
            spans[t].append(_Span(max(0, s - widen), e + widen))
        return spans

    return detect


def test_scorer_counts_an_oracle_as_perfect_and_nothing_as_nothing() -> None:
    records = load_split("dev")
    perfect = score(records, _oracle(records), lambda names: names)
    assert perfect["overall"]["recall"] == 1.0
    assert all(perfect["keep"][lang]["rate"] == 1.0 for lang in LANGUAGES)
    nothing = score(records, lambda texts, language, known: [[] for _ in texts], tuple)
    assert nothing["overall"]["found"] == 0 and not nothing["false_hits"]
    everything = score(records, lambda texts, lang, known: [[_Span(0, len(t))] for t in texts],
                       tuple)  # fmt: skip
    assert everything["overall"]["recall"] == 1.0
    assert all(everything["keep"][lang]["kept"] == 0 for lang in LANGUAGES)


def test_found_means_every_non_space_character_covered() -> None:
    turn = "call 415-555 0134 now"
    start, end = 5, 17
    assert is_found(turn, start, end, [_Span(5, 12), _Span(13, 17)])  # the space between
    assert not is_found(turn, start, end, [_Span(5, 12)])
    assert not is_found(turn, start, end, [_Span(6, 30)])  # its first character left out
    assert is_kept(0, 4, [_Span(5, 17)]) and not is_kept(0, 6, [_Span(5, 17)])


def test_known_names_split_as_the_service_does() -> None:
    assert known_names({"metadata": {"names": "Dana Whitfield, Ruth Okafor"}}) == (
        "Dana Whitfield",
        "Ruth Okafor",
    )
    assert known_names({"metadata": {"names": "陈思远、刘老师"}}) == ("陈思远", "刘老师")
    assert known_names({}) == ()


def _heldout_result() -> dict:
    from annotate.deid import detect

    return score(load_split("heldout"), detect.detect_turns, lambda n: detect.Known(names=n))


def _cells_below(result: dict, floor: float) -> dict[str, float]:
    return {
        f"{lang}/{c}": v["recall"]
        for lang in LANGUAGES
        for c, v in result["recall"][lang]["categories"].items()
        if v["recall"] < floor
    }


# What the detector reaches on held-out today (docs/deidentification.md): a regression
# below these fails; the goals are the next test, not met yet.
FLOOR_OVERALL, FLOOR_CELL, FLOOR_KEEP = 0.94, 0.85, 0.97


def test_detector_holds_its_measured_recall_on_heldout() -> None:
    """Overall recall >= 0.94, every category and language >= 0.85, ordinary words kept
    >= 0.97: the figures the README states, so a change that loses them fails."""
    result = _heldout_result()
    assert result["overall"]["recall"] >= FLOOR_OVERALL, result["overall"]
    assert not _cells_below(result, FLOOR_CELL), _cells_below(result, FLOOR_CELL)
    for lang in LANGUAGES:
        assert result["keep"][lang]["rate"] >= FLOOR_KEEP, (lang, result["keep"][lang])
    # Counts only: the held-out split's misses are not printed, so nobody tunes on them.
    assert re.fullmatch(r"\d+", str(len(result["misses"])))


@pytest.mark.xfail(
    strict=True,
    reason="issue #26's goals are not met yet: held-out recall 0.945 overall, "
    "zh/name 0.867, zh/date 0.882, en/phone 0.882, en/id 0.882, en/age 0.882",
)
def test_detector_meets_the_goals_on_heldout() -> None:
    """Recall >= 0.95 overall, >= 0.90 per category and language; ordinary words kept >= 0.90.
    Strict: the day it passes, this marker must go."""
    result = _heldout_result()
    assert result["overall"]["recall"] >= GOAL_OVERALL, result["overall"]
    assert not _cells_below(result, GOAL_CELL), _cells_below(result, GOAL_CELL)
    for lang in LANGUAGES:
        assert result["keep"][lang]["rate"] >= GOAL_KEEP, (lang, result["keep"][lang])
