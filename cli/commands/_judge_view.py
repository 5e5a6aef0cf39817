"""The rubric judge's figures for leads on the command line: ``agreement --judge`` and
the judge lines of ``progress``."""

from __future__ import annotations

from typing import Any

import typer

from annotate.core.frames import ci_text
from cli.commands._common import print_json


def show_judge_agreement(
    store: Any, model: str | None, level: str, samples: int, seed: int, *, as_json: bool
) -> None:
    """``annotate agreement --judge``: the judge against the reviewers, per criterion."""
    from rich.console import Console
    from rich.table import Table

    from annotate.analysis.agreement_judge import PAIRS_NOTE, judge_agreement

    result = judge_agreement(store, model, level, samples, seed)  # type: ignore[arg-type]
    if as_json:
        print_json(result.as_json())
        return
    console = Console(width=160)
    others = [f"{name} ({n})" for name, n in result.models.items() if name != result.model]
    head = f"Judge: {result.model} ({result.chosen}; {result.models[result.model]} texts judged)"
    if others:
        head += f"; also judged by {', '.join(others)}: --model NAME"
    console.print(head, markup=False, highlight=False)
    table = Table(
        title=f"Judge vs reviewers, Krippendorff's alpha ({level}), 95% bootstrap CI "
        f"({samples} resamples, seed {seed}); {result.rationale_units} rationale version(s) "
        f"and {result.prediction_units} prediction(s) scored by both",
        title_justify="left",
    )
    for name, justify in (
        ("criterion", "left"),
        ("judge α", "right"),
        ("units", "right"),
        ("reviewers α", "right"),
        ("units ", "right"),
        ("bias (judge - human)", "right"),
        ("pairs", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for one in result.criteria:
        table.add_row(
            one.criterion,
            _alpha(one.alpha, one.ci_low, one.ci_high),
            str(one.units),
            _alpha(one.human_alpha, one.human_ci_low, one.human_ci_high),
            str(one.human_units),
            "-" if one.bias is None else f"{one.bias:+.2f}",
            str(one.pairs),
        )
    console.print(table)
    kappa = "-" if result.kappa is None else f"{result.kappa:.2f}"
    raw = "-" if result.raw_agreement is None else f"{result.raw_agreement:.0%}"
    typer.echo(
        f"Pass/fail: Cohen's kappa {kappa}, raw agreement {raw} over "
        f"{result.kappa_pairs} pair(s) ({PAIRS_NOTE})"
        + (f"; {result.kappa_explained}" if result.kappa_explained else "")
    )
    for one in result.criteria:
        if one.note and one.units >= 2:
            typer.echo(f"{one.criterion}: {one.note}")
    for sentence in result.sentences:
        typer.echo(sentence)


def _alpha(value: float | None, low: float | None, high: float | None) -> str:
    """``0.41 [0.20, 0.60]``, the value alone without an interval, '-' when undefined."""
    return ci_text({"a": value, "a_ci_low": low, "a_ci_high": high}, "a") or "-"
