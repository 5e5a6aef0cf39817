"""Counselor effects: the share of client-rated alliance that lies between counselors, and
each counselor's shrunken mean client rating and counselor-minus-client gap.

The model, per dimension, with sessions as the observations (statsmodels ``MixedLM``,
REML): ``score = mu + u_counselor + v_client + e``, a random intercept per counselor
(variance ``counselor_var``), a variance component for each client within their
counselor (``client_var``) and the session residual (``residual_var``). The ICC is
``counselor_var / (counselor_var + client_var + residual_var)``: the share of the
variance of client-rated alliance that lies between counselors.

Its 95% interval is a parametric bootstrap: ``samples`` data sets are simulated from the
fitted model (same counselors, clients and sessions; normal effects with the fitted
variances), the model is refitted to each, and the 2.5th and 97.5th percentiles of their
ICCs are the interval. Resamples whose fit fails are left out and counted.

Per counselor, the mean client rating is the model's best linear unbiased prediction
``mu + u_counselor`` (an empirical Bayes estimate: pulled toward the mean of all
counselors, the more so the fewer sessions a counselor has), with the interval
``± 1.96 * sqrt(var(mu) + conditional var(u_counselor))``. The gap is the same model fitted
to ``counselor score - client score`` over the sessions both rated completely; a positive
gap means the counselor rates the alliance higher than the client does.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from annotate.core.errors import ConfigError
from annotate.core.plurals import counted
from annotate.research.ratings import CLIENT, COUNSELOR, dimension_scores, dimensions, paired

if TYPE_CHECKING:
    import pandas as pd

SAMPLES = 100  # each resample refits the model (about 0.05 s for a small store)
SEED = 0
FEW_COUNSELORS = 10  # below this the ICC is reported with a warning
INTERVAL_COUNSELORS = 3  # below this no interval: a variance of two groups has none to speak of
Z95 = 1.959963984540054
METHOD = (
    "ICC: share of client-rated alliance variance between counselors, from a mixed model "
    "(sessions within clients within counselors; statsmodels MixedLM, REML); 95% interval "
    "by parametric bootstrap from the fitted model. Per counselor: shrunken (empirical "
    "Bayes) estimates with 95% intervals."
)


class Unfittable(Exception):
    """The model cannot be fitted to these data; the message says why, in one line."""


@dataclass(frozen=True)
class Fit:
    """One fitted model: its variances, intercept and each counselor's BLUP."""

    intercept: float
    intercept_var: float
    counselor_var: float
    client_var: float | None  # None: fitted without the client component (see notes)
    residual_var: float
    converged: bool
    effects: dict[str, tuple[float, float]]  # counselor -> (u, conditional variance)
    notes: tuple[str, ...]

    @property
    def icc(self) -> float:
        total = self.counselor_var + (self.client_var or 0.0) + self.residual_var
        return self.counselor_var / total if total > 0 else math.nan


@dataclass(frozen=True)
class DimensionEffect:
    """The ICC of one dimension, what it rests on, and plain warnings."""

    dimension: str
    n_counselors: int
    n_clients: int
    n_sessions: int
    icc: float | None = None
    icc_low: float | None = None
    icc_high: float | None = None
    counselor_var: float | None = None
    client_var: float | None = None
    residual_var: float | None = None
    mean: float | None = None
    samples: int = 0
    failed_samples: int = 0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CounselorEstimate:
    """One counselor on one dimension: raw and shrunken client mean and gap."""

    dimension: str
    counselor_id: str
    clients: int
    sessions: int
    client_mean: float
    client_estimate: float | None
    client_low: float | None
    client_high: float | None
    paired_sessions: int
    gap_mean: float | None
    gap_estimate: float | None
    gap_low: float | None
    gap_high: float | None


@dataclass(frozen=True)
class CounselorEffects:
    """Counselor effects per dimension and per counselor (see the module's docstring)."""

    dimensions: tuple[DimensionEffect, ...]
    counselors: tuple[CounselorEstimate, ...]
    method: str = METHOD
    notes: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "dimensions": [_clean(asdict(d)) for d in self.dimensions],
            "counselors": [_clean(asdict(c)) for c in self.counselors],
            "notes": list(self.notes),
        }


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (None if isinstance(v, float) and math.isnan(v) else list(v) if isinstance(v, tuple)
              else v)
        for key, v in row.items()
    }  # fmt: skip


def _model(frame: pd.DataFrame, value: str, with_clients: bool) -> Any:
    from statsmodels.regression.mixed_linear_model import MixedLM

    components = {"client": "0 + C(client_id)"} if with_clients else None
    return MixedLM.from_formula(f"{value} ~ 1", frame, groups="counselor_id", re_formula="1",
                                vc_formula=components)  # fmt: skip


def _refit(model: Any, endog: Any, start: Any) -> Any:
    """MODEL's design with another response, fitted from START."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    again = MixedLM(endog, model.exog, model.groups, exog_re=model.exog_re,
                    exog_vc=model.exog_vc if model.k_vc else None)  # fmt: skip
    return again.fit(reml=True, start_params=start, method=["lbfgs"])


def fit(frame: pd.DataFrame, value: str = "score") -> tuple[Fit, Any, Any]:
    """Fit the model to FRAME (columns counselor_id, client_id and VALUE, one row per
    session): the Fit, the statsmodels model and its result. Raises Unfittable."""
    import numpy as np

    counselors = frame["counselor_id"].nunique()
    if counselors < 2:
        raise Unfittable(f"needs sessions of at least 2 counselors (found {counselors})")
    if len(frame) < 3 or float(frame[value].std(ddof=0)) == 0.0:
        raise Unfittable("the scores do not vary: there is no variance to share")
    notes = []
    per_client = frame.groupby("client_id").size()
    clients_per_counselor = frame.groupby("counselor_id")["client_id"].nunique()
    with_clients = bool((per_client > 1).any() and (clients_per_counselor > 1).any())
    if not with_clients:
        notes.append("client and session (or counselor) variance cannot be separated here "
                     "(one session per client or one client per counselor): fitted without "
                     "the client component")  # fmt: skip
    model = _model(frame, value, with_clients)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = model.fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as error:
            raise Unfittable(f"the model could not be fitted ({error})") from None
    boundary = any("boundary" in str(w.message) for w in caught)
    counselor_var = max(float(np.asarray(result.cov_re)[0, 0]), 0.0)
    client_var = max(float(result.vcomp[0]), 0.0) if with_clients else None
    residual_var = float(result.scale)
    converged = bool(result.converged)
    if counselor_var <= 1e-6 * (counselor_var + (client_var or 0.0) + residual_var):
        boundary = False  # said below, in plain words
        notes.append("counselor variance estimated at zero (the boundary): no counselor effect "
                     "is detectable in these data, which does not show there is none")  # fmt: skip
    if not converged:
        notes.append("the model did not converge: treat these figures as unreliable")
    if boundary:
        notes.append("the fit may be on the boundary (a variance near zero): treat the "
                     "interval as rough")  # fmt: skip
    effects = {
        str(group): (float(re.iloc[0]), float(result.random_effects_cov[group].iloc[0, 0]))
        for group, re in result.random_effects.items()
    }
    fitted = Fit(
        intercept=float(result.fe_params.iloc[0]),
        intercept_var=float(np.asarray(result.cov_params())[0, 0]),
        counselor_var=counselor_var,
        client_var=client_var,
        residual_var=residual_var,
        converged=converged,
        effects=effects,
        notes=tuple(notes),
    )
    return fitted, model, result


def bootstrap_icc(fitted: Fit, model: Any, result: Any, samples: int, seed: int
                  ) -> tuple[list[float], int]:  # fmt: skip
    """ICCs of SAMPLES data sets simulated from the fitted model and refitted, and how
    many refits failed (see the module's docstring)."""
    import numpy as np
    import pandas as pd

    generator = np.random.default_rng(seed)
    counselor_codes = pd.factorize(pd.Series(model.groups))[0]
    n_counselors = int(counselor_codes.max()) + 1
    client_codes = None
    if fitted.client_var is not None:
        labels = [f"{g}\x00{c}" for g, c in zip(model.groups, model.data.frame["client_id"],
                                                 strict=True)]  # fmt: skip
        client_codes = pd.factorize(pd.Series(labels))[0]
    iccs, failed = [], 0
    for _ in range(samples):
        endog = (
            fitted.intercept
            + generator.normal(0.0, math.sqrt(fitted.counselor_var), n_counselors)[counselor_codes]
        )
        if client_codes is not None and fitted.client_var is not None:
            draws = generator.normal(0.0, math.sqrt(fitted.client_var), client_codes.max() + 1)
            endog = endog + draws[client_codes]
        endog = endog + generator.normal(0.0, math.sqrt(fitted.residual_var), len(endog))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # boundary fits warn; a failure is counted
            try:
                again = _refit(model, endog, result.params_object)
            except (np.linalg.LinAlgError, ValueError):
                failed += 1
                continue
        tau = max(float(np.asarray(again.cov_re)[0, 0]), 0.0)
        client = max(float(again.vcomp[0]), 0.0) if client_codes is not None else 0.0
        total = tau + client + float(again.scale)
        if not math.isfinite(total) or total <= 0:
            failed += 1
            continue
        iccs.append(tau / total)
    return iccs, failed


def _interval(fitted: Fit, counselor: str) -> tuple[float, float, float]:
    u, conditional = fitted.effects[counselor]
    estimate = fitted.intercept + u
    half = Z95 * math.sqrt(max(fitted.intercept_var + conditional, 0.0))
    return estimate, estimate - half, estimate + half


def _dimension(
    pairs: pd.DataFrame, dimension: str, samples: int, seed: int
) -> tuple[DimensionEffect, list[CounselorEstimate]]:
    import numpy as np

    rows = pairs[pairs["dimension"] == dimension]
    client = rows.dropna(subset=[CLIENT]).rename(columns={CLIENT: "score"})
    sizes = {"n_counselors": int(client["counselor_id"].nunique()),
             "n_clients": int(client[["counselor_id", "client_id"]].drop_duplicates().shape[0]),
             "n_sessions": len(client)}  # fmt: skip
    few = []
    if 2 <= sizes["n_counselors"] < FEW_COUNSELORS:
        few.append(
            f"only {counted(sizes['n_counselors'], 'counselor')}: the ICC is very "
            f"uncertain (at least {FEW_COUNSELORS} are needed for a usable estimate)"
        )
    try:
        fitted, model, result = fit(client)
    except Unfittable as reason:
        unfit = f"not estimated: {reason}"
        effect = DimensionEffect(dimension, **sizes, warnings=(*few, unfit))
        return effect, _raw_estimates(rows, dimension, None, None)
    notes = [*few, *fitted.notes]
    if samples and sizes["n_counselors"] < INTERVAL_COUNSELORS:
        notes.append(f"no interval: {counted(sizes['n_counselors'], 'counselor')} cannot give one")
        samples = 0
    iccs, failed = bootstrap_icc(fitted, model, result, samples, seed) if samples else ([], 0)
    if failed:
        notes.append(f"{failed} of {samples} bootstrap refits failed and were left out")
    low, high = (
        (float(np.percentile(iccs, 2.5)), float(np.percentile(iccs, 97.5)))
        if len(iccs) >= 20 else (None, None)
    )  # fmt: skip
    effect = DimensionEffect(
        dimension, **sizes, icc=fitted.icc, icc_low=low, icc_high=high,
        counselor_var=fitted.counselor_var, client_var=fitted.client_var,
        residual_var=fitted.residual_var, mean=fitted.intercept, samples=samples,
        failed_samples=failed, warnings=tuple(notes),
    )  # fmt: skip
    gap_rows = rows.dropna(subset=[CLIENT, COUNSELOR])
    gap_rows = gap_rows.assign(gap=gap_rows[COUNSELOR] - gap_rows[CLIENT])
    try:
        gap_fit: Fit | None = fit(gap_rows, "gap")[0]
    except Unfittable as reason:
        gap_fit = None
        effect = _with_warning(effect, f"gap not shrunken: {reason}")
    return effect, _raw_estimates(rows, dimension, fitted, gap_fit)


def _with_warning(effect: DimensionEffect, warning: str) -> DimensionEffect:
    from dataclasses import replace

    return replace(effect, warnings=(*effect.warnings, warning))


def _raw_estimates(
    rows: pd.DataFrame, dimension: str, client_fit: Fit | None, gap_fit: Fit | None
) -> list[CounselorEstimate]:
    """Per counselor: sizes, raw means and (when fitted) shrunken estimates, largest
    estimated gap first (raw gap when not shrunken; counselors without one last)."""
    estimates = []
    for counselor, own in rows.groupby("counselor_id", sort=True):
        rated = own.dropna(subset=[CLIENT])
        both = own.dropna(subset=[CLIENT, COUNSELOR])
        name = str(counselor)
        client = _interval(client_fit, name) if client_fit and name in client_fit.effects else None
        gap = _interval(gap_fit, name) if gap_fit and name in gap_fit.effects else None
        estimates.append(CounselorEstimate(
            dimension=dimension, counselor_id=name,
            clients=int(rated["client_id"].nunique()), sessions=len(rated),
            client_mean=float(rated[CLIENT].mean()) if len(rated) else math.nan,
            client_estimate=client[0] if client else None,
            client_low=client[1] if client else None,
            client_high=client[2] if client else None,
            paired_sessions=len(both),
            gap_mean=float((both[COUNSELOR] - both[CLIENT]).mean()) if len(both) else None,
            gap_estimate=gap[0] if gap else None,
            gap_low=gap[1] if gap else None,
            gap_high=gap[2] if gap else None,
        ))  # fmt: skip

    def order(estimate: CounselorEstimate) -> tuple[int, float]:
        gap = estimate.gap_estimate if estimate.gap_estimate is not None else estimate.gap_mean
        return (1, 0.0) if gap is None else (0, -gap)

    return sorted(estimates, key=order)


def effects_from_scores(
    scores: pd.DataFrame, order: list[str], *, samples: int = SAMPLES, seed: int = SEED
) -> CounselorEffects:
    """Counselor effects of SCORES (``ratings.dimension_scores``) per dimension in ORDER."""
    pairs = paired(scores)
    found, counselors = [], []
    for dimension in order:
        effect, estimates = _dimension(pairs, dimension, samples, seed)
        found.append(effect)
        counselors.extend(estimates)
    notes = () if not pairs.empty else ("no session has a complete set of client ratings",)
    return CounselorEffects(tuple(found), tuple(counselors), notes=notes)


def counselor_effects(
    engine: Engine, dimension: str | None = None, *, samples: int = SAMPLES, seed: int = SEED
) -> CounselorEffects:
    """Counselor effects from the store's client and counselor ratings, for one DIMENSION
    or all. Raises ConfigError for an unknown dimension."""
    order = checked_dimensions(engine, dimension)
    return effects_from_scores(dimension_scores(engine), order, samples=samples, seed=seed)


def checked_dimensions(engine: Engine, dimension: str | None) -> list[str]:
    """The scored dimensions, or [DIMENSION] when it is one of them (else ConfigError)."""
    known = dimensions(engine)
    if dimension is None:
        return known
    if dimension not in known:
        shown = ", ".join(known) or "none (no instrument is installed)"
        raise ConfigError(f"unknown dimension {dimension!r}; known: {shown}")
    return [dimension]
