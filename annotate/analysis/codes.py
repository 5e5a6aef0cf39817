"""Agreement on turn codes and how often coders take the proposals.

**Agreement** (Krippendorff's alpha, nominal) is computed per code family over the
sessions that two or more coders finished (submitted or accepted), blind to each other.
A unit is one turn of such a session; a coder's value for a family is the family's code
on that turn (codes joined with "+" when a turn has several of one family, "none" when
it has none), so a turn one coder marks and another leaves alone is a disagreement,
and two "none"s agree. Turns of the other speaker are units too: every coder could have
coded them. The interval is the percentile bootstrap over units that rationale
agreement uses (seeded).

**Acceptance**: per code (and per proposer: the offline hinter or a model), how many
grounded suggestions coders accepted and rejected, and the rate accepted / decided.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from annotate.analysis.agreement import BOOTSTRAP_SAMPLES, SEED, alpha_with_ci
from annotate.core.markers import DEFAULT_SCHEME, stored_scheme
from annotate.work.codings import finished_codes
from store.db import reader
from store.models import MarkerDraft, MarkerSuggestion, SuggestionDecision, Turn

if TYPE_CHECKING:
    import pandas as pd

NONE = "none"


def family_values(
    codes: list[tuple[int, str]], family_of: dict[str, str], family: str, turns: range
) -> list[str]:
    """One coder's value per turn for ``family`` (see the module docstring)."""
    on: dict[int, list[str]] = defaultdict(list)
    for turn, code in codes:
        if family_of.get(code) == family:
            on[turn].append(code)
    return ["+".join(sorted(on[turn])) if on[turn] else NONE for turn in turns]


def coding_units(
    engine: Engine, scheme_id: str = DEFAULT_SCHEME
) -> tuple[dict[str, dict[str, list[tuple[int, str]]]], dict[str, list[list[str]]]]:
    """(sessions -> coders -> values, family -> units): the units alpha is computed on,
    each unit the values of one turn, in coder-name order."""
    with Session(reader(engine)) as session:
        scheme = stored_scheme(session, scheme_id)
        coded = {
            sid: coders
            for sid, coders in finished_codes(session, scheme_id, role=None).items()
            if len(coders) >= 2
        }
        lengths: dict[str, int] = defaultdict(int)
        if coded:
            for sid, number in session.execute(
                select(col(Turn.session_id), col(Turn.number)).where(
                    col(Turn.session_id).in_(coded)
                )
            ).all():
                lengths[sid] = max(lengths[sid], number)
    family_of = {code.id: code.family for code in scheme.codes}
    units: dict[str, list[list[str]]] = {family: [] for family in scheme.families}
    for sid in sorted(coded):
        turns = range(1, lengths[sid] + 1)
        for family in scheme.families:
            per_coder = [
                family_values(coded[sid][coder], family_of, family, turns)
                for coder in sorted(coded[sid])
            ]
            units[family].extend([list(values) for values in zip(*per_coder, strict=True)])
    return coded, units


def code_agreement(
    engine: Engine,
    scheme_id: str = DEFAULT_SCHEME,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
) -> pd.DataFrame:
    """Alpha (nominal) per family: family, sessions, units, alpha, ci_low, ci_high,
    bootstrap_used, observed_agreement, note."""
    import pandas as pd

    coded, units = coding_units(engine, scheme_id)
    rows = []
    for family, family_units in units.items():
        domain_values = sorted({value for unit in family_units for value in unit})
        index = {value: float(i) for i, value in enumerate(domain_values)}
        numeric = [[index[value] for value in unit] for unit in family_units]
        result = alpha_with_ci(numeric, list(index.values()), "nominal", samples, seed)
        note = result.note
        if note and result.units < 2:
            note = "too little overlap: double-code at least one session ('codes assign --second')"
        elif note and result.alpha is None:
            note = "no variation: every coder gave every turn the same value, alpha is undefined"
        agreeing = sum(1 for unit in family_units if len(set(unit)) == 1)
        rows.append(
            {
                "family": family,
                "sessions": len(coded),
                "units": result.units,
                "alpha": result.alpha,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "bootstrap_used": result.bootstrap_used,
                "observed_agreement": agreeing / len(family_units) if family_units else None,
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def acceptance(engine: Engine, scheme_id: str = DEFAULT_SCHEME) -> pd.DataFrame:
    """Per code and proposer: offered (grounded suggestions), accepted, rejected,
    undecided (decisions still to make, counted per coding of the session), rate."""
    import pandas as pd

    with Session(reader(engine)) as session:
        scheme = stored_scheme(session, scheme_id)
        suggestions = session.execute(
            select(col(MarkerSuggestion.id), col(MarkerSuggestion.code), col(MarkerDraft.provider),
                   col(MarkerDraft.model))
            .join(MarkerDraft, col(MarkerDraft.id) == col(MarkerSuggestion.draft_id))
            .where(col(MarkerDraft.scheme_id) == scheme_id, col(MarkerSuggestion.grounded))
        ).all()  # fmt: skip
        decisions = session.execute(
            select(col(SuggestionDecision.suggestion_id), col(SuggestionDecision.decision))
        ).all()
    decided: dict[int, list[str]] = defaultdict(list)
    for suggestion_id, decision in decisions:
        decided[suggestion_id].append(decision)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for suggestion_id, code, provider, model in suggestions:
        source = "offline hinter" if provider == "offline" else model
        row = counts.setdefault((code, source), {"offered": 0, "accepted": 0, "rejected": 0})
        row["offered"] += 1
        for decision in decided.get(suggestion_id, []):
            row[decision] += 1
    order = {code: i for i, code in enumerate(scheme.code_ids)}
    family_of = {code.id: code.family for code in scheme.codes}
    rows = []
    for (code, source), row in sorted(
        counts.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])
    ):
        total = row["accepted"] + row["rejected"]
        rows.append(
            {"code": code, "family": family_of.get(code), "source": source, **row,
             "rate": row["accepted"] / total if total else None}
        )  # fmt: skip
    columns = ["code", "family", "source", "offered", "accepted", "rejected", "rate"]
    return pd.DataFrame(rows, columns=columns)
