"""The trace's validation against scipy and hand-worked figures, on both backends."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from annotate.analysis.report_trace import trace_sections
from annotate.core.errors import ConfigError
from annotate.research.validate import (
    NO_TRACE,
    TraceChoice,
    Validation,
    chosen_trace,
    ci_text,
    gap_by_condition,
    gap_by_third,
    report,
    session_scores,
    thirds,
)
from tests.factories import ITEMS, session_record

pytestmark = pytest.mark.both_backends

DIMENSIONS = ("goal", "task", "bond")


def _record(session_id: str, client: str = "cl1", condition: str | None = None, **kw) -> dict:  # type: ignore[no-untyped-def]
    extra = {"metadata": {"condition": condition}} if condition is not None else {}
    return session_record(session_id, client_id=client, **extra, **kw)


def _same(value: float) -> dict[str, float]:
    return dict.fromkeys(DIMENSIONS, value)


def _random_store(add_sessions, add_trace, count: int, seed: int = 5) -> tuple[list, dict]:  # type: ignore[no-untyped-def]
    """``count`` sessions with random ratings and turn scores that lean on the ratings."""
    generator = random.Random(seed)
    records, turns = [], {}
    for index in range(count):
        client = {item: generator.randint(1, 5) for item in ITEMS}
        counselor = {item: generator.randint(2, 5) for item in ITEMS}
        records.append(
            _record(
                f"s{index:02d}",
                client=f"c{index % 7}",
                client_ratings=client,
                counselor_ratings=counselor,
                condition=("焦虑", "depression")[index % 2],
            )
        )
        rows = []
        for _ in range(generator.randint(4, 9)):
            speaker = generator.choice(("client", "counselor"))
            rated = client if speaker == "client" else counselor
            rows.append(
                (
                    speaker,
                    {
                        d: 0.1 * _items_mean(rated, d) + generator.gauss(0.3, 0.05)
                        for d in DIMENSIONS
                    },
                )
            )
        rows += [("client", _same(generator.random())), ("counselor", _same(generator.random()))]
        turns[f"s{index:02d}"] = rows
    add_sessions(records)
    for session_id, rows in turns.items():
        add_trace(session_id, rows)
    return records, turns


def _items_mean(ratings: dict, dimension: str) -> float:
    return float(np.mean([ratings[f"{dimension}_{n}"] for n in range(1, 5)]))


def _speaker_mean(rows: list, speaker: str, dimension: str) -> float | None:
    values = [scores[dimension] for who, scores in rows if who == speaker]
    return float(np.mean(values)) if values else None


def test_session_scores_are_each_speakers_turn_mean(engine, add_sessions, add_trace) -> None:  # type: ignore[no-untyped-def]
    _, turns = _random_store(add_sessions, add_trace, 6)
    add_sessions([_record("only-client", condition="焦虑")])
    turns["only-client"] = [("client", _same(0.25)), ("client", _same(0.75))]
    add_trace("only-client", turns["only-client"])
    frame = session_scores(engine)
    expected = {
        (session_id, speaker, dimension): _speaker_mean(rows, speaker, dimension)
        for session_id, rows in turns.items()
        for speaker in ("client", "counselor")
        for dimension in DIMENSIONS
    }
    expected = {key: value for key, value in expected.items() if value is not None}
    got = {(r.session_id, r.speaker, r.dimension): r.score for r in frame.itertuples()}
    assert got.keys() == expected.keys()  # no counselor row for "only-client"
    for key, value in expected.items():
        assert got[key] == pytest.approx(value)
    row = frame[(frame["session_id"] == "only-client") & (frame["dimension"] == "goal")].iloc[0]
    assert (row["score"], row["n_turns"], row["condition"]) == (0.5, 2, "焦虑")
    assert (row["client_id"], row["counselor_id"]) == ("cl1", "co1")
    counted = frame[(frame["session_id"] == "s00") & (frame["dimension"] == "bond")]
    assert dict(zip(counted["speaker"], counted["n_turns"], strict=True)) == {
        speaker: sum(1 for who, _ in turns["s00"] if who == speaker)
        for speaker in ("client", "counselor")
    }


def _pearson(x, y, axis=-1):  # type: ignore[no-untyped-def]
    return stats.pearsonr(x, y, axis=axis).statistic


def _spearman(x, y, axis=-1):  # type: ignore[no-untyped-def]
    ranked = (stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis))
    return stats.pearsonr(*ranked, axis=axis).statistic


def test_correlations_equal_scipy_with_bootstrap_intervals(engine, add_sessions, add_trace) -> None:  # type: ignore[no-untyped-def]
    records, turns = _random_store(add_sessions, add_trace, 30)
    result = report(engine, n_boot=4000, seed=11)
    table = result.correlations.set_index(["speaker", "dimension"])
    assert list(table.index) == [(s, d) for s in ("client", "counselor") for d in DIMENSIONS]
    for speaker in ("client", "counselor"):
        for dimension in DIMENSIONS:
            inferred = np.array(
                [_speaker_mean(turns[r["session_id"]], speaker, dimension) for r in records]
            )
            rated = np.array([_items_mean(r[f"{speaker}_ratings"], dimension) for r in records])
            row = table.loc[(speaker, dimension)]
            assert row["n"] == 30
            pearson, spearman = stats.pearsonr(inferred, rated), stats.spearmanr(inferred, rated)
            assert row["pearson_r"] == pytest.approx(pearson.statistic)
            assert row["pearson_p"] == pytest.approx(pearson.pvalue)
            assert row["spearman_rho"] == pytest.approx(spearman.statistic)
            assert row["spearman_p"] == pytest.approx(spearman.pvalue)
            assert row["note"] is None
            # scipy's own percentile bootstrap over the same sessions: same interval up to
            # resampling noise (4000 resamples each)
            for name, function in (("pearson_r", _pearson), ("spearman_rho", _spearman)):
                reference = stats.bootstrap(
                    (inferred, rated),
                    function,
                    paired=True,
                    vectorized=True,
                    n_resamples=4000,
                    method="percentile",
                    random_state=np.random.default_rng(7),
                ).confidence_interval
                low, high = row[f"{name}_ci_low"], row[f"{name}_ci_high"]
                assert low < row[name] < high
                assert low == pytest.approx(reference.low, abs=0.05)
                assert high == pytest.approx(reference.high, abs=0.05)
    # the turn scores lean on the ratings: the client correlations are clearly positive
    assert table.loc[("client", "goal"), "pearson_r_ci_low"] > 0
    again = report(engine, n_boot=4000, seed=11).correlations
    assert again.equals(result.correlations)
    other = report(engine, n_boot=4000, seed=12).correlations
    assert not other["pearson_r_ci_low"].equals(result.correlations["pearson_r_ci_low"])
    json = result.as_json()
    assert json["trace"]["method"] == "embedding" and json["bootstrap"]["unit"] == "session"
    assert json["correlations"][0]["pearson_r"] == pytest.approx(table.iloc[0]["pearson_r"])


def test_gap_by_condition_by_hand(engine, add_sessions, add_trace) -> None:  # type: ignore[no-untyped-def]
    add_sessions(
        [
            _record("a1", condition="焦虑"),
            _record("a2", condition="焦虑"),
            _record("b1", condition="depression"),
            _record("n1"),
            _record("c-only", condition="depression"),
        ]
    )
    # a1: client (0.3 + 0.1) / 2 = 0.2, counselor (0.5 + 0.7) / 2 = 0.6: gap -0.4
    add_trace(
        "a1",
        [
            ("counselor", _same(0.5)),
            ("client", _same(0.3)),
            ("counselor", _same(0.7)),
            ("client", _same(0.1)),
        ],
    )
    add_trace("a2", [("client", _same(0.6)), ("counselor", _same(0.4))])  # gap 0.2
    add_trace("b1", [("client", _same(0.45)), ("counselor", _same(0.3))])  # gap 0.15
    add_trace("n1", [("client", _same(0.2)), ("counselor", _same(0.25))])  # gap -0.05
    add_trace("c-only", [("client", _same(0.9))])  # no counselor turn: no gap
    frame = gap_by_condition(engine, n_boot=2000, seed=3)
    rows = {(r.condition, r.dimension): r for r in frame.itertuples()}
    assert list(dict.fromkeys(frame["condition"])) == [None, "depression", "焦虑"]
    for dimension in DIMENSIONS:
        anxious = rows[("焦虑", dimension)]
        assert (anxious.n, anxious.gap) == (2, pytest.approx(-0.1))
        # two sessions: resampled means are -0.4, -0.1 or 0.2, so the interval is the ends
        assert (anxious.gap_ci_low, anxious.gap_ci_high) == (
            pytest.approx(-0.4),
            pytest.approx(0.2),
        )
        assert (anxious.client_mean, anxious.counselor_mean) == (
            pytest.approx(0.4),
            pytest.approx(0.5),
        )
        depressed = rows[("depression", dimension)]
        assert (depressed.n, depressed.gap) == (1, pytest.approx(0.15))
        assert depressed.gap_ci_low == pytest.approx(0.15) == depressed.gap_ci_high
        everyone = rows[(None, dimension)]
        assert (everyone.n, everyone.gap) == (4, pytest.approx((-0.4 + 0.2 + 0.15 - 0.05) / 4))
        assert everyone.gap_ci_low < everyone.gap < everyone.gap_ci_high


def test_gap_by_third_by_hand(engine, add_sessions, add_trace) -> None:  # type: ignore[no-untyped-def]
    add_sessions([_record("seven", condition="自杀风险"), _record("four", condition="自杀风险")])
    # 7 turns: turns 1-3 the first third, 4-5 the middle, 6-7 the last
    add_trace(
        "seven",
        [
            ("counselor", _same(0.6)),
            ("client", _same(0.2)),
            ("client", _same(0.4)),  # -0.3
            ("counselor", _same(0.5)),
            ("client", _same(0.4)),  # -0.1
            ("client", _same(0.5)),
            ("counselor", _same(0.5)),  # 0.0
        ],
    )
    # 4 turns: 1-2 first (-0.1), 3 middle (client only), 4 last (counselor only)
    add_trace(
        "four",
        [
            ("client", _same(0.1)),
            ("counselor", _same(0.2)),
            ("client", _same(0.3)),
            ("counselor", _same(0.1)),
        ],
    )
    frame = gap_by_third(engine, n_boot=500, seed=1)
    assert list(frame.columns) == [
        *("condition", "dimension", "third", "n", "gap", "gap_ci_low", "gap_ci_high"),
        *("client_mean", "counselor_mean"),
    ]
    for condition in (None, "自杀风险"):
        rows = frame[
            (frame["condition"].map(lambda c, w=condition: c == w)) & (frame["dimension"] == "task")
        ]
        figures = {r.third: (r.n, r.gap) for r in rows.itertuples()}
        assert figures["first"] == (2, pytest.approx(-0.2))
        assert figures["middle"] == (1, pytest.approx(-0.1))
        assert figures["last"] == (1, pytest.approx(0.0))
        first = rows[rows["third"] == "first"].iloc[0]
        assert (first["gap_ci_low"], first["gap_ci_high"]) == (
            pytest.approx(-0.3),
            pytest.approx(-0.1),
        )


def test_no_trace_is_one_line_error(engine, add_sessions) -> None:  # type: ignore[no-untyped-def]
    add_sessions([_record("a")])
    for function in (session_scores, gap_by_condition, gap_by_third, report):
        with pytest.raises(ConfigError) as raised:
            function(engine)
        assert (
            str(raised.value) == NO_TRACE == "no alliance trace stored: run 'annotate trace' first"
        )
    assert trace_sections(engine) == []


def test_which_trace_is_used(engine, add_sessions, add_trace) -> None:  # type: ignore[no-untyped-def]
    add_sessions([_record(f"s{n}") for n in range(3)])
    old = datetime.now(UTC) - timedelta(days=1)
    for n in range(3):
        add_trace(
            f"s{n}",
            [("client", _same(0.1)), ("counselor", _same(0.2))],
            method="lexical",
            model="char-ngrams",
            created_at=old,
        )
    for n in range(2):
        add_trace(f"s{n}", [("client", _same(0.8)), ("counselor", _same(0.4))])
    choice = chosen_trace(engine)  # the most sessions, though older
    assert (choice.method, choice.model, choice.sessions) == ("lexical", "char-ngrams", 3)
    assert choice.label.startswith("lexical (char-ngrams, no model)")
    assert len(choice.others) == 1
    assert set(session_scores(engine)["score"]) == {0.1, 0.2}
    chosen = session_scores(engine, method="embedding")
    assert set(chosen["score"]) == {0.8, 0.4} and chosen["session_id"].nunique() == 2
    with pytest.raises(ConfigError, match="no alliance trace by embedding other-model stored"):
        chosen_trace(engine, method="embedding", model="other-model")
    # the same method and model against an older instrument version: a trace of its own
    add_trace("s2", [("client", _same(0.9)), ("counselor", _same(0.9))], version="0.9.0")
    choice = chosen_trace(engine, method="embedding")
    assert (choice.instrument_version, choice.sessions) != ("0.9.0", 1)
    assert choice.sessions == 2 and len(choice.others) == 2
    assert 0.9 not in set(session_scores(engine, method="embedding")["score"])


def test_few_sessions_constant_scores_and_no_ratings(engine, add_sessions, add_trace) -> None:  # type: ignore[no-untyped-def]
    generator = random.Random(2)
    records = [
        _record(
            f"s{n}",
            client_ratings={i: generator.randint(1, 5) for i in ITEMS},
            counselor_ratings={},
        )
        for n in range(5)
    ]
    add_sessions(records)
    for n in range(5):  # every counselor turn the same; the client's vary
        add_trace(f"s{n}", [("client", _same(0.1 * n)), ("counselor", _same(0.5))])
    table = report(engine, n_boot=200).correlations.set_index(["speaker", "dimension"])
    client = table.loc[("client", "goal")]
    assert client["n"] == 5 and not np.isnan(client["pearson_r"])
    assert "only 5 sessions: too few" in client["note"]
    counselor = table.loc[("counselor", "goal")]  # no counselor ratings at all
    assert counselor["n"] == 0 and np.isnan(counselor["pearson_r"])
    assert "no correlation" in counselor["note"]
    add_sessions(
        [_record(f"k{n}", counselor_ratings={i: 2 + n % 3 for i in ITEMS}) for n in range(4)]
    )
    for n in range(4):
        add_trace(f"k{n}", [("client", _same(0.3)), ("counselor", _same(0.5))])
    table = report(engine, n_boot=200).correlations.set_index(["speaker", "dimension"])
    counselor = table.loc[("counselor", "bond")]
    assert counselor["n"] == 4 and np.isnan(counselor["pearson_r"])
    assert (
        counselor["note"]
        == "the counselor-turn scores are constant over the 4 sessions: no correlation"
    )


def test_report_shows_the_domain_figures(engine, add_sessions, add_trace) -> None:  # type: ignore[no-untyped-def]
    _random_store(add_sessions, add_trace, 12)
    html = "\n".join(trace_sections(engine, samples=300, seed=4))
    result = report(engine, n_boot=300, seed=4)
    assert "not measured" in html and "inferred from the words" in html

    def shown(row, name: str) -> str:  # type: ignore[no-untyped-def]
        return f"{row[name]:.2f} [{row[name + '_ci_low']:.2f}, {row[name + '_ci_high']:.2f}]"

    for _, row in result.correlations.iterrows():
        assert f'<td class="text">{shown(row, "pearson_r")}</td>' in html
        assert f'<td class="text">{shown(row, "spearman_rho")}</td>' in html
        assert ci_text(row, "pearson_r") == shown(row, "pearson_r")
    for _, row in result.by_condition.iterrows():
        assert f'<td class="text">{shown(row, "gap")}</td>' in html
    for _, row in result.by_third.iterrows():
        assert f"{shown(row, 'gap')} (n={row['n']})" in html  # the table
        label = row["condition"] or "all sessions"
        title = f"{row['dimension']}, {row['third']}: {shown(row, 'gap')}</title>"
        chart = html.split(f"Within sessions: {label}", 1)[1].split("</svg>")[0]
        assert title in chart  # the trajectory's point, with its interval
    assert "焦虑" in html and "all sessions" in html
    assert html.count('<svg class="chart') == 1 + 3  # by condition; thirds: all + 2 conditions
    assert "<h3>Within the session: first, middle and last third</h3>" in html


def test_small_gaps_keep_their_axis(engine, add_sessions, add_trace) -> None:  # type: ignore[no-untyped-def]
    add_sessions([_record("a", condition="焦虑"), _record("b", condition="焦虑")])
    add_trace("a", [("client", _same(0.33)), ("counselor", _same(0.30))])  # gap 0.03
    add_trace("b", [("client", _same(0.36)), ("counselor", _same(0.30))])  # gap 0.06
    html = "\n".join(trace_sections(engine, samples=200))
    by_condition = html.split("<svg")[1]  # the axis must tell 0.02 from 0.04 and 0.06
    ticks = re.findall(r'text-anchor="end" font-size="10" [^>]*>([^<]+)</text>', by_condition)
    assert ticks == ["0", "0.02", "0.04", "0.06"]


def _validation(correlations: list[dict]) -> Validation:
    import pandas as pd

    frame = pd.DataFrame(correlations)
    for name in ("pearson_r", "spearman_rho"):
        frame[f"{name}_ci_low"] = frame[name] - 0.2
        frame[f"{name}_ci_high"] = frame[name] + 0.2
    choice = TraceChoice("embedding", "m", "wai-sr", "1", 40, DIMENSIONS, ())
    return Validation(choice, 10, 0, 0.95, frame, pd.DataFrame(), pd.DataFrame())


@pytest.mark.parametrize(
    ("client", "n", "verdict"),
    [
        ((0.6, 0.7, 0.8), 40, "a fair guide to where to look, still not a score"),
        ((0.3, 0.1, 0.6), 40, "a weak signal: use it to find moments to read"),
        ((0.1, 0.0, -0.1), 40, "no interval excludes zero"),
        ((0.1, -0.3, 0.2), 40, "where an interval lies below zero the trace runs against"),
        ((0.9, 0.9, 0.9), 8, "Too few sessions to say how far client turns track"),
    ],
)
def test_how_far_to_trust(client: tuple[float, ...], n: int, verdict: str) -> None:
    rows = [{"speaker": "client", "dimension": d, "n": n, "pearson_r": r, "spearman_rho": r}
            for d, r in zip(DIMENSIONS, client, strict=True)]  # fmt: skip
    sentence = _validation(rows).trust("client")
    assert verdict in sentence
    if n >= 10:
        assert sentence.startswith(
            f"Client turns against clients' own ratings: goal r = {client[0]:.2f}"
        )


def test_views_for_the_command_line(engine, add_sessions, add_trace) -> None:  # type: ignore[no-untyped-def]
    add_sessions([_record("seven", condition="自杀风险")])
    add_trace("seven", [
        ("counselor", _same(0.6)), ("client", _same(0.2)), ("client", _same(0.4)),
        ("counselor", _same(0.5)), ("client", _same(0.4)),
        ("client", _same(0.5)), ("counselor", _same(0.5)),
    ])  # fmt: skip
    result = report(engine, n_boot=100)
    view = result.by_third_view()
    assert list(view.columns) == ["condition", "dimension", "first", "middle", "last"]
    first = view.iloc[0]
    assert (first["condition"], first["dimension"]) == ("all sessions", "goal")
    assert first["first"] == "-0.30 [-0.30, -0.30] (n=1)"
    assert view.iloc[3]["condition"] == "自杀风险"
    described = result.describe()
    assert "embedding (test-embed), wai-sr" in described and "not measured" in described
    assert "No correlation of counselor turns" in described
    assert (
        result.by_condition_view()["client − counselor"].iloc[0] == "-0.16 [-0.16, -0.16]"
    )  # 0.375 - 0.533
    json = result.as_json()
    assert json["gap_by_third"][0] == {
        "condition": None, "dimension": "goal", "third": "first", "n": 1,
        "gap": pytest.approx(-0.3), "gap_ci_low": pytest.approx(-0.3),
        "gap_ci_high": pytest.approx(-0.3), "client_mean": pytest.approx(0.3),
        "counselor_mean": pytest.approx(0.6),
    }  # fmt: skip
    assert json["correlations"][0]["pearson_r"] is None


def test_thirds_split_by_position() -> None:
    assert thirds(7) == ["first"] * 3 + ["middle"] * 2 + ["last"] * 2
    assert thirds(8) == ["first"] * 3 + ["middle"] * 3 + ["last"] * 2
    assert thirds(6) == ["first"] * 2 + ["middle"] * 2 + ["last"] * 2
    assert thirds(2) == ["first", "middle"]
