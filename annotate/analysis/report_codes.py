"""The report's section on turn coding (3RS): agreement per family and proposals taken."""

from __future__ import annotations

import math
from html import escape

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from annotate.analysis import svg
from annotate.analysis.codes import acceptance, code_agreement
from annotate.core.markers import DEFAULT_SCHEME
from annotate.core.workflow import status_label
from store.db import reader
from store.models import Coding, MarkerScheme


def _number(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)  # type: ignore[arg-type]


def codes_section(engine: Engine, samples: int, seed: int,
                  scheme_id: str = DEFAULT_SCHEME) -> list[str]:  # fmt: skip
    """Coding status counts, alpha per family with its interval (chart and table), and the
    acceptance of proposals per code; nothing when the store has no codings."""
    from annotate.analysis.html import html_table

    with Session(reader(engine)) as session:
        if session.get(MarkerScheme, scheme_id) is None:
            return []
        status = dict(
            session.execute(
                select(col(Coding.status), func.count())
                .where(col(Coding.scheme_id) == scheme_id)
                .group_by(col(Coding.status))
            ).all()
        )
    if not status:
        return []
    counts = ", ".join(f"{n} {status_label(name)}" for name, n in sorted(status.items()))
    alpha = code_agreement(engine, scheme_id, samples, seed)
    estimates: list[svg.Estimate | None] = []
    for row in alpha.itertuples(index=False):
        value = _number(row.alpha)
        estimates.append(None if value is None else (value, _number(row.ci_low),
                                                     _number(row.ci_high)))  # fmt: skip
    chart = svg.interval_chart(
        "Alpha per code family (95% CI)",
        list(alpha["family"]),
        {"alpha": estimates},
        y_label="alpha",
    )
    notes = [note for note in alpha["note"] if isinstance(note, str)]
    return [
        "<h2>Rupture coding (3RS markers)</h2>",
        f"<p>Codings: {escape(counts)}. Agreement is over turns of sessions two or more "
        "coders finished, blind to each other; a turn one coder marks and another leaves "
        "alone is a disagreement.</p>",
        f'<div class="charts">{chart}</div>',
        html_table(alpha.drop(columns="note"),
                   f"Krippendorff's alpha per code family ({samples} resamples, seed {seed})"),
        *(f'<p class="note">{escape(note)}</p>' for note in dict.fromkeys(notes)),
        html_table(acceptance(engine, scheme_id),
                   "Proposals of draft --markers accepted and rejected, per code and proposer"),
    ]  # fmt: skip
