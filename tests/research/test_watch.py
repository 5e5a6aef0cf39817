"""Clients not on track: the flags of a hand-worked example, Cronbach's alpha and the
threshold against an independent computation, and the edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from annotate.core.errors import ConfigError, NotFoundError
from annotate.research.watch import not_on_track, watch_from_scores
from tests.factories import session_record
from tests.research.alliance_data import items_at, nested_records, session_scores_by_sql

# (client, counselor, client scores by visit, counselor scores by visit; None: not rated)
EXAMPLE = [
    ("A-甲", "t1", [4.2, 3.45], [4.0, 4.25]),
    ("B-乙", "t1", [3.6, 2.86], [4.0, 3.0]),
    ("C-丙", "咨询师", [3.0, 3.0, 2.2], [3.5, 3.5, None]),
    ("D-丁", "咨询师", [3.0], [3.0]),
    ("E-戊", "t2", [4.2, 4.2, 3.3], [4.0, 4.5, 4.0]),
]


def _example() -> pd.DataFrame:
    rows = []
    for client, counselor, own, theirs in EXAMPLE:
        for visit, (score, rated) in enumerate(zip(own, theirs, strict=True), start=1):
            base = {"session_id": f"{client}-{visit}", "client_id": client,
                    "counselor_id": counselor, "session_number": visit, "visit": visit,
                    "condition": None, "dimension": "goal"}  # fmt: skip
            rows.append({**base, "rater_role": "client", "score": score})
            if rated is not None:
                rows.append({**base, "rater_role": "counselor", "score": rated})
    return pd.DataFrame(rows)


def test_flags_equal_the_hand_worked_example() -> None:
    # First-session scores 4.2, 3.6, 3.0, 3.0, 4.2: mean 3.6, SD sqrt(4 * 0.36 / 4) = 0.6.
    # Stated alpha 0.8: SE_diff = 0.6 * sqrt(2) * sqrt(0.2) = 0.3795; threshold 1.96 * it
    # = 0.7438. A falls 4.2 -> 3.45 (0.75 > 0.7438: flagged), B 3.6 -> 2.86 (0.74: not).
    watch = watch_from_scores(_example(), ["goal"], {}, reliability=0.8)
    [level] = watch.reliability
    assert (level.alpha, level.alpha_source, level.sd_clients) == (0.8, "stated", 5)
    assert level.sd == pytest.approx(0.6)
    assert level.se_diff == pytest.approx(0.3795, abs=5e-5)
    assert level.threshold == pytest.approx(0.7438, abs=5e-5)
    found = [(f.client_id, f.visit, f.compared_to, round(f.reference, 2), round(f.drop, 2),
              f.missed) for f in watch.flags]  # fmt: skip
    assert found == [
        # E: 4.2 -> 3.3 from the previous session (counselor 4.5 -> 4.0 fell: not missed)
        # and from the baseline, its first session (counselor 4.0 -> 4.0: missed)
        ("E-戊", 3, "previous", 4.2, 0.9, False),
        ("E-戊", 3, "baseline", 4.2, 0.9, True),
        # A: 0.75 from the previous session, which is also the baseline (listed once);
        # the counselor went 4.0 -> 4.25: missed
        ("A-甲", 2, "previous", 4.2, 0.75, True),
        # C: 3.0 -> 2.2 from the previous session and the baseline; no counselor rating
        ("C-丙", 3, "previous", 3.0, 0.8, None),
        ("C-丙", 3, "baseline", 3.0, 0.8, None),
    ]
    assert watch.flagged_clients() == ["E-戊", "A-甲", "C-丙"]
    assert [t.client_id for t in watch.clients] == ["E-戊", "A-甲", "C-丙", "B-乙", "D-丁"]
    tracks = {t.client_id: t for t in watch.clients}
    assert (tracks["E-戊"].flags, tracks["E-戊"].missed, tracks["C-丙"].unknown) == (2, 1, 2)
    assert tracks["D-丁"].sessions == 1 and tracks["D-丁"].flags == 0  # one session: nothing
    assert tracks["C-丙"].trajectory["goal"] == [(1, 1, 3.0, 3.5), (2, 2, 3.0, 3.5),
                                                 (3, 3, 2.2, None)]  # fmt: skip
    assert watch.flags[0].threshold == level.threshold


def test_a_baseline_of_two_sessions_compares_with_their_mean() -> None:
    watch = watch_from_scores(_example(), ["goal"], {}, reliability=0.8, baseline=2)
    found = [(f.client_id, f.compared_to, f.reference, f.counselor_reference, f.missed)
             for f in watch.flags]  # fmt: skip
    assert found == [  # clients with a missed drop first, then by flags, then by id
        ("A-甲", "previous", 4.2, 4.0, True),  # A has no session after a 2-session baseline
        ("C-丙", "previous", 3.0, 3.5, None),
        ("C-丙", "baseline", 3.0, 3.5, None),
        ("E-戊", "previous", 4.2, 4.5, False),
        ("E-戊", "baseline", 4.2, 4.25, False),  # counselor 4.0 < mean(4.0, 4.5)
    ]


def _alpha_by_hand(matrix: np.ndarray) -> float:
    """Cronbach's alpha from the item covariance matrix: k/(k-1) * (1 - trace / total)."""
    covariance = np.cov(matrix, rowvar=False, ddof=1)
    k = covariance.shape[0]
    return k / (k - 1) * (1 - np.trace(covariance) / covariance.sum())


@pytest.mark.both_backends
def test_alpha_sd_and_threshold_equal_an_independent_computation(engine, add_sessions) -> None:  # type: ignore[no-untyped-def]
    add_sessions(nested_records(4, 3, 3, seed=8))
    watch = not_on_track(engine)
    query = text("SELECT r.session_id, r.item_id, r.value FROM ratings r "
                 "WHERE r.rater_role = 'client' AND r.item_id LIKE 'goal%'")  # fmt: skip
    with engine.connect() as connection:
        ratings = pd.DataFrame(connection.execute(query).mappings().all())
    matrix = ratings.pivot(index="session_id", columns="item_id", values="value").dropna()
    alpha = _alpha_by_hand(matrix.to_numpy(dtype=float))
    scores = session_scores_by_sql(engine)
    first = scores[(scores["dimension"] == "goal") & (scores["rater_role"] == "client")
                   & scores["session_id"].str.endswith("-1")]  # fmt: skip
    sd = float(np.std(first["score"].to_numpy(), ddof=1))
    level = watch.reliability[0]
    assert level.dimension == "goal" and level.alpha_source == "store"
    assert level.alpha == pytest.approx(alpha, rel=1e-9)
    assert level.alpha_sessions == len(matrix) == 36
    assert level.sd == pytest.approx(sd, rel=1e-9) and level.sd_clients == 12
    assert level.threshold == pytest.approx(1.96 * sd * math.sqrt(2) * math.sqrt(1 - alpha))
    for flag in watch.flags:
        assert flag.drop > flag.threshold


@pytest.mark.both_backends
def test_a_drop_the_counselor_did_not_register_is_flagged_and_missed(engine, add_sessions) -> None:  # type: ignore[no-untyped-def]
    records = nested_records(3, 3, 3, seed=2)
    steady = [(4, 4), (4, 4), (2, 4)]  # the client falls at the third session, the counselor not
    for number, (client, counselor) in enumerate(steady, start=1):
        records.append(session_record(
            f"falls-{number}", client_id="来访者-下降", counselor_id="咨询师-稳",
            session_number=number,
            client_ratings=items_at(goal=client, task=client, bond=client),
            counselor_ratings=items_at(goal=counselor, task=counselor, bond=counselor),
        ))  # fmt: skip
    add_sessions(records)
    watch = not_on_track(engine, dimension="bond")
    assert [r.dimension for r in watch.reliability] == ["bond"]
    assert "来访者-下降" in watch.flagged_clients()
    flagged = [t.flags > 0 for t in watch.clients]
    assert flagged == sorted(flagged, reverse=True)  # flagged clients first
    mine = [f for f in watch.flags if f.client_id == "来访者-下降"]
    assert [(f.session_id, f.compared_to, f.drop, f.missed) for f in mine] == [
        ("falls-3", "previous", 2.0, True),
        ("falls-3", "baseline", 2.0, True),
    ]
    only = not_on_track(engine, dimension="bond", client="来访者-下降")
    assert [t.client_id for t in only.clients] == ["来访者-下降"]
    assert only.reliability == watch.reliability  # thresholds still use every client


@pytest.mark.both_backends
def test_too_few_clients_leave_alpha_unestimated_until_one_is_stated(engine, add_sessions) -> None:  # type: ignore[no-untyped-def]
    add_sessions(nested_records(1, 3, 2, seed=3))
    watch = not_on_track(engine, dimension="goal")
    [level] = watch.reliability
    assert level.alpha is None and level.threshold is None and watch.flags == ()
    assert watch.notes() == [
        "goal: Cronbach's alpha is not estimated from only 3 clients (needs 5); state one "
        "with --reliability; goal: SD from the first sessions of only 3 clients: the "
        "threshold is rough"
    ]
    stated = not_on_track(engine, dimension="goal", reliability=0.85)
    assert stated.reliability[0].threshold is not None


@pytest.mark.both_backends
def test_bad_options_are_one_line_errors(engine, add_sessions) -> None:  # type: ignore[no-untyped-def]
    add_sessions(nested_records(1, 2, 2, seed=3))
    for wrong in (0.0, 1.0, -0.2, 1.5):
        with pytest.raises(ConfigError, match="--reliability must be between 0 and 1"):
            not_on_track(engine, reliability=wrong)
    with pytest.raises(ConfigError, match="--baseline must be at least 1 session, not 0"):
        not_on_track(engine, baseline=0)
    with pytest.raises(NotFoundError, match="no client 'nobody' with client ratings"):
        not_on_track(engine, client="nobody")
    with pytest.raises(ConfigError, match="unknown dimension"):
        not_on_track(engine, dimension="rupture")  # rated, binary, not a scored dimension
