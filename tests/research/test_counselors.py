"""Counselor effects: the ICC and shrunken estimates equal statsmodels fitted here on a frame
read by hand-written SQL; a planted counselor effect is recovered within its interval, a
zero one gives an interval reaching zero; too little data gives messages, not tracebacks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from annotate.core.errors import ConfigError
from annotate.research.counselors import Z95, counselor_effects, effects_from_scores
from tests.research.alliance_data import nested_records, session_scores_by_sql


def _fit(frame: pd.DataFrame, value: str):  # type: ignore[no-untyped-def]
    """The same model, fitted independently: counselor intercept, client component."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smf.mixedlm(f"{value} ~ 1", frame, groups="counselor_id", re_formula="1",
                            vc_formula={"client": "0 + C(client_id)"})  # fmt: skip
        return model.fit(reml=True)


@pytest.mark.both_backends
def test_icc_variances_and_blups_equal_statsmodels_on_the_same_frame(engine, add_sessions) -> None:  # type: ignore[no-untyped-def]
    add_sessions(nested_records(12, 3, 3, seed=4))
    effects = counselor_effects(engine, "goal", samples=0)
    [effect] = effects.dimensions
    scores = session_scores_by_sql(engine)
    goal = scores[scores["dimension"] == "goal"]
    client = goal[goal["rater_role"] == "client"]
    result = _fit(client, "score")
    tau, client_var = float(np.asarray(result.cov_re)[0, 0]), float(result.vcomp[0])
    icc = tau / (tau + client_var + result.scale)
    assert effect.icc == pytest.approx(icc, rel=1e-6)
    assert effect.counselor_var == pytest.approx(tau, rel=1e-6)
    assert effect.client_var == pytest.approx(client_var, rel=1e-6)
    assert effect.residual_var == pytest.approx(result.scale, rel=1e-6)
    assert effect.mean == pytest.approx(result.fe_params.iloc[0], rel=1e-9)
    assert (effect.n_counselors, effect.n_clients, effect.n_sessions) == (12, 36, 108)
    assert effect.icc_low is None and effect.icc_high is None  # samples=0: no interval
    assert not any(w.startswith("only") for w in effect.warnings)  # 12 counselors: no warning
    wide = goal.pivot_table(index=["session_id", "client_id", "counselor_id"],
                            columns="rater_role", values="score").reset_index()  # fmt: skip
    both = wide.dropna().assign(gap=lambda f: f["counselor"] - f["client"])
    gap_result = _fit(both, "gap")
    estimates = {e.counselor_id: e for e in effects.counselors}
    assert len(estimates) == 12
    for counselor, own in client.groupby("counselor_id"):
        estimate = estimates[counselor]
        blup = result.fe_params.iloc[0] + result.random_effects[counselor].iloc[0]
        assert estimate.client_estimate == pytest.approx(blup, rel=1e-6)
        half = Z95 * math.sqrt(result.cov_params().iloc[0, 0]
                               + result.random_effects_cov[counselor].iloc[0, 0])  # fmt: skip
        assert estimate.client_low == pytest.approx(blup - half, rel=1e-6)
        assert estimate.client_high == pytest.approx(blup + half, rel=1e-6)
        assert estimate.client_mean == pytest.approx(own["score"].mean())
        assert (estimate.sessions, estimate.clients) == (len(own), own["client_id"].nunique())
        paired = both[both["counselor_id"] == counselor]
        assert estimate.paired_sessions == len(paired)
        assert estimate.gap_mean == pytest.approx(paired["gap"].mean())
        gap_blup = gap_result.fe_params.iloc[0] + gap_result.random_effects[counselor].iloc[0]
        assert estimate.gap_estimate == pytest.approx(gap_blup, rel=1e-6)
    gaps = [e.gap_estimate for e in effects.counselors]
    assert gaps == sorted(gaps, reverse=True)  # largest overestimation first
    # shrinkage: every shrunken mean lies between the counselor's raw mean and the grand mean
    for estimate in effects.counselors:
        low, high = sorted((estimate.client_mean, effect.mean or 0.0))
        assert low - 1e-9 <= (estimate.client_estimate or 0.0) <= high + 1e-9


def _simulated(counselors: int, clients: int, sessions: int, counselor_sd: float,
               seed: int) -> tuple[pd.DataFrame, dict[str, float], dict[str, float]]:  # fmt: skip
    """Session scores from the model itself: (long frame, planted counselor effects,
    planted gaps)."""
    generator = np.random.default_rng(seed)
    rows, effects, gaps = [], {}, {}
    for c in range(counselors):
        counselor = f"咨询师{c}"
        effects[counselor] = float(generator.normal(0, counselor_sd))
        gaps[counselor] = float(generator.normal(0.4, 0.4))
        for k in range(clients):
            client_effect = generator.normal(0, 0.4)
            for s in range(sessions):
                score = 3.5 + effects[counselor] + client_effect + generator.normal(0, 0.5)
                base = {"session_id": f"{c}-{k}-{s}", "client_id": f"{counselor}-来访者{k}",
                        "counselor_id": counselor, "session_number": s + 1, "visit": s + 1,
                        "condition": None, "dimension": "goal"}  # fmt: skip
                rows.append({**base, "rater_role": "client", "score": score})
                counselor_score = score + gaps[counselor] + generator.normal(0, 0.3)
                rows.append({**base, "rater_role": "counselor", "score": counselor_score})
    return pd.DataFrame(rows), effects, gaps


@pytest.mark.slow
def test_a_planted_counselor_effect_is_recovered_within_its_interval() -> None:
    frame, planted, gaps = _simulated(30, 6, 5, counselor_sd=0.4, seed=11)
    effects = effects_from_scores(frame, ["goal"], samples=60, seed=3)
    [effect] = effects.dimensions
    true_icc = 0.4**2 / (0.4**2 + 0.4**2 + 0.5**2)  # 0.281
    assert effect.icc_low is not None and effect.icc_high is not None
    assert effect.icc_low < true_icc < effect.icc_high
    assert effect.icc_low < effect.icc < effect.icc_high
    assert effect.icc_low > 0.05  # a real effect: the interval stays clear of zero
    assert effect.warnings == ()  # 30 counselors, converged, away from the boundary
    estimates = {e.counselor_id: e for e in effects.counselors}
    covered = sum(
        (estimates[c].client_low or 0) <= 3.5 + u <= (estimates[c].client_high or 0)
        for c, u in planted.items()
    )
    assert covered >= 26  # about 95% of 30 intervals hold the planted counselor mean
    shrunken = [estimates[c].client_estimate for c in planted]
    assert np.corrcoef(shrunken, list(planted.values()))[0, 1] > 0.8
    first = effects.counselors[0].counselor_id
    assert gaps[first] > np.quantile(list(gaps.values()), 0.8)  # largest gap listed first


@pytest.mark.slow
def test_no_counselor_effect_gives_an_interval_that_reaches_zero() -> None:
    frame, _, _ = _simulated(12, 3, 3, counselor_sd=0.0, seed=5)
    effects = effects_from_scores(frame, ["goal"], samples=40, seed=2)
    [effect] = effects.dimensions
    assert effect.icc_low is not None and effect.icc_high is not None
    assert effect.icc_low < 0.01
    assert effect.icc is not None and effect.icc < 0.15
    assert effect.icc_high < 0.35


@pytest.mark.both_backends
def test_too_little_data_gives_plain_warnings_not_tracebacks(engine, add_sessions) -> None:  # type: ignore[no-untyped-def]
    add_sessions(nested_records(1, 3, 2, seed=2))
    [effect, *_] = counselor_effects(engine, samples=0).dimensions
    assert effect.icc is None
    assert "not estimated: needs sessions of at least 2 counselors (found 1)" in effect.warnings
    assert not any("only 1 counselor" in w for w in effect.warnings)  # the reason suffices
    add_sessions(nested_records(3, 2, 2, seed=3, prefix="b"))
    [effect, *_] = counselor_effects(engine, samples=0).dimensions
    assert effect.n_counselors == 4 and effect.icc is not None
    assert any("only 4 counselors: the ICC is very uncertain" in w for w in effect.warnings)
    with pytest.raises(ConfigError, match="unknown dimension 'trust'; known: goal, task, bond"):
        counselor_effects(engine, "trust")


def test_two_counselors_get_an_estimate_but_no_interval() -> None:
    """No bootstrap for two counselors (a spread of two values has no interval worth
    showing, and the refits cost the report its time); three get one."""
    frame, _, _ = _simulated(2, 4, 3, counselor_sd=0.5, seed=5)
    [effect] = effects_from_scores(frame, ["goal"], samples=30).dimensions
    assert effect.icc is not None and (effect.icc_low, effect.icc_high) == (None, None)
    assert effect.samples == 0 and "no interval: 2 counselors cannot give one" in effect.warnings
    frame, _, _ = _simulated(3, 4, 3, counselor_sd=0.5, seed=5)
    [effect] = effects_from_scores(frame, ["goal"], samples=30).dimensions
    assert effect.samples == 30 and effect.icc_low is not None


def test_scores_that_do_not_vary_are_named_not_fitted() -> None:
    frame, _, _ = _simulated(12, 2, 2, counselor_sd=0.3, seed=1)
    frame["score"] = 4.0
    [effect] = effects_from_scores(frame, ["goal"], samples=10).dimensions
    assert effect.icc is None
    assert effect.warnings == ("not estimated: the scores do not vary: there is no variance "
                               "to share",)  # fmt: skip


@pytest.mark.both_backends
def test_an_empty_store_reports_no_scores(engine) -> None:  # type: ignore[no-untyped-def]
    effects = counselor_effects(engine, samples=0)
    assert [d.dimension for d in effects.dimensions] == ["goal", "task", "bond"]
    assert all(d.n_sessions == 0 and d.icc is None for d in effects.dimensions)
    assert effects.counselors == ()
    assert effects.as_json()["notes"] == ["no session has a complete set of client ratings"]
