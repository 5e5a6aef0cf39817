"""``annotate agreement``, ``alignment``, ``edits``, ``lexicon`` and ``report``: the figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.commands._common import engine, print_json, show_table

if TYPE_CHECKING:
    pass

LevelOption = Annotated[
    str,
    typer.Option(help="Level of measurement for alpha: nominal, ordinal, interval or ratio."),
]
SamplesOption = Annotated[
    int, typer.Option(min=0, help="Bootstrap resamples for the 95% interval (0: no interval).")
]
SeedOption = Annotated[int, typer.Option(help="Seed of the bootstrap, so reruns agree.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def agreement_command(
    level: LevelOption = "ordinal",
    samples: SamplesOption = 1000,
    seed: SeedOption = 20080101,
    as_json: JsonOption = False,
    judge: Annotated[
        bool,
        typer.Option(
            "--judge",
            help="The rubric judge against the human reviewers: alpha per criterion beside "
            "the reviewers' own, pass/fail kappa and mean bias.",
        ),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(help="With --judge: the judge model (default: most counted judgements)."),
    ] = None,
) -> None:
    """Krippendorff's alpha per review criterion, score means and SDs, and the pass rate;
    --judge: the rubric judge against the reviewers."""
    if model is not None and not judge:
        from annotate.core.errors import ConfigError

        raise ConfigError("--model names a judge model: use it with --judge")
    if judge:
        from cli.commands._judge_view import show_judge_agreement

        show_judge_agreement(engine(), model, level, samples, seed, as_json=as_json)
        return
    from annotate.analysis._data import records
    from annotate.analysis.agreement import agreement, criterion_scores, pass_rates
    from annotate.analysis.by_source import by_source
    from annotate.core.vocabulary import current_rubric

    store = engine()
    rubric = current_rubric(store)
    alpha = agreement(store, level, samples, seed, rubric)  # type: ignore[arg-type]
    scores = {
        "overall": criterion_scores(store, rubric=rubric),
        "by_dimension": criterion_scores(store, "dimension", rubric),
        "by_reviewer": criterion_scores(store, "reviewer", rubric),
    }
    passing = pass_rates(store, rubric)
    sources = by_source(store, level, samples, seed, rubric)  # type: ignore[arg-type]
    with_models = sources["source"].nunique() > 1
    if as_json:
        print_json(
            {
                "level": level,
                "bootstrap_samples": samples,
                "seed": seed,
                "rubric_version": rubric.version,
                "threshold": rubric.threshold,
                "alpha": records(alpha),
                "scores": {key: records(frame) for key, frame in scores.items()},
                "pass": records(passing),
                "by_source": records(sources),
            }
        )
        return
    show_table(
        alpha.drop(columns="note"),
        f"Krippendorff's alpha ({level}), 95% bootstrap CI ({samples} resamples, seed {seed})",
    )
    for criterion, note in zip(alpha["criterion"], alpha["note"], strict=True):
        if isinstance(note, str):
            typer.echo(f"{criterion}: {note}")
    show_table(scores["overall"], "Review scores, all reviews")
    show_table(scores["by_dimension"], "Review scores per dimension")
    show_table(scores["by_reviewer"], "Review scores per reviewer")
    show_table(passing, f"Rationales passing the threshold ({rubric.threshold}) on all criteria")
    if with_models:
        show_table(
            sources.drop(columns="note"),
            "Human evaluation by source (experts' and models' texts, reviewed blind)",
        )


def alignment_command(
    instrument: Annotated[str, typer.Option(help="Instrument whose dimensions to compare.")] = (
        "wai-sr"
    ),
    by: Annotated[
        str | None,
        typer.Option(help="Per group of sessions: a metadata key (condition) or session_number."),
    ] = None,
    samples: SamplesOption = 1000,
    seed: SeedOption = 20080101,
    as_json: JsonOption = False,
) -> None:
    """Counselor vs client dimension scores (Pearson, Spearman, MSE, who rates higher) and
    binary items (2x2 table, missed share, kappa); --by: per group with bootstrap CIs."""
    from annotate.analysis._data import records
    from annotate.analysis.alignment import alignment
    from annotate.analysis.binary import binary_alignment
    from annotate.analysis.by_group import alignment_by
    from cli.commands._alignment_view import grouped_json, show_binary, show_grouped

    store = engine()
    grouped = alignment_by(store, by, instrument, samples, seed) if by is not None else None
    table, binary = alignment(store, instrument), binary_alignment(store)
    if as_json:
        data: dict[str, Any] = {"instrument": instrument, "dimensions": records(table),
                                "binary": records(binary)}  # fmt: skip
        if grouped is not None:
            data["by"] = grouped_json(grouped)
        print_json(data)
        return
    if grouped is not None:
        show_grouped(grouped, instrument)
        return
    show_table(table, "Counselor vs client (sessions where both rated every item)")
    show_binary(binary)


def edits_command(as_json: JsonOption = False) -> None:
    """Draft to final text: share kept unchanged, edit distance and length.

    Also whether the model's uncertainty (draft --samples) predicts the experts' edits:
    Spearman and Pearson correlations with p-values over the items measured both ways."""
    from annotate.analysis._data import records
    from annotate.analysis.edits import edit_stats, uncertainty_and_edits

    store = engine()
    by_dimension, by_annotator = edit_stats(store, "dimension"), edit_stats(store, "annotator")
    doubt = uncertainty_and_edits(store)
    if as_json:
        print_json({"by_dimension": records(by_dimension), "by_annotator": records(by_annotator),
                    "uncertainty": doubt})  # fmt: skip
        return
    show_table(by_dimension, "Draft to final, per dimension")
    show_table(by_annotator, "Draft to final, per annotator")
    typer.echo(doubt["sentence"])
    if doubt["pearson_r"] is not None:
        typer.echo(f"  Pearson r {doubt['pearson_r']:.2f} (p {doubt['pearson_p']:.2g}); "
                   f"Spearman ρ {doubt['spearman_rho']:.2f} (p {doubt['spearman_p']:.2g}); "
                   f"n {doubt['n']}: {doubt['pairing']}")  # fmt: skip


def lexicon_command(
    dimension: Annotated[
        str | None, typer.Option(help="Only this dimension (default: every dimension).")
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Words per dimension.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Words that mark each dimension's rationales (weighted log-odds z-scores)."""
    from annotate.analysis._data import records
    from annotate.analysis.lexicon import SIGNIFICANT_Z, lexicon

    table = lexicon(engine(), dimension, top)
    if as_json:
        print_json(
            {
                "dimension": dimension,
                "top": top,
                "significant_z": SIGNIFICANT_Z,
                "words": records(table),
            }
        )
        return
    show_table(table, f"Top {top} words per dimension (z > {SIGNIFICANT_Z:g} is significant)")


def report_command(
    html: Annotated[Path, typer.Option("--html", help="Write the report to this HTML file.")],
    level: LevelOption = "ordinal",
    samples: SamplesOption = 1000,
    seed: SeedOption = 20080101,
) -> None:
    """Write one self-contained HTML report (tables and charts; opens offline)."""
    from annotate.analysis.report import write_report

    path = write_report(engine(), html, level=level, samples=samples, seed=seed)
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("agreement")(agreement_command)
    app.command("alignment")(alignment_command)
    app.command("edits")(edits_command)
    app.command("lexicon")(lexicon_command)
    app.command("report")(report_command)
