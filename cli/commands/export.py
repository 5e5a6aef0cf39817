"""``annotate export`` and ``annotate evaluate``: training files out, model predictions in."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated, Any

import typer

from annotate.core.plurals import counted
from cli.commands._common import engine, estimate_cell, is_terminal, print_json


def export(
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="openai, alpaca, sharegpt, dpo, or markers (turn codes, openai layout).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Output directory (created).", show_default=False)
    ],
    folds: Annotated[
        str | None,
        typer.Option(
            help="K client-grouped folds (fold_k/train.jsonl and fold_k/val.jsonl), or "
            "'loco': leave one client out, one fold per client.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fold assignment.")] = 0,
    min_score: Annotated[
        int | None,
        typer.Option(help="Every review criterion must reach this score (default: rubric's)."),
    ] = None,
    include_unreviewed: Annotated[
        bool,
        typer.Option("--include-unreviewed", help="Also export accepted, unreviewed rationales."),
    ] = False,
    target: Annotated[str, typer.Option(help="rationale, rating or both.")] = "both",
    parquet: Annotated[
        bool, typer.Option("--parquet", help="Also write a .parquet beside each .jsonl.")
    ] = False,
    instrument: Annotated[str, typer.Option(help="Instrument whose items to export.")] = "wai-sr",
    dpo_min_edit: Annotated[
        float,
        typer.Option(help="dpo: pair only when edit distance / length exceeds this."),
    ] = 0.1,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace a previous export in --out (refused if anything there is not "
            "listed in its manifest.json).",
        ),
    ] = False,
    conversational: Annotated[
        bool,
        typer.Option(
            "--conversational",
            help="dpo: TRL's conversational format (prompt as system and user messages, "
            "chosen and rejected as assistant messages).",
        ),
    ] = False,
    prompt_metadata: Annotated[
        str | None,
        typer.Option(
            help="KEY[,KEY]: put these session metadata keys into the user message as a "
            "header line (never by default).",
            show_default=False,
        ),
    ] = None,
    scheme: Annotated[str, typer.Option(help="markers: the marker scheme to export.")] = "3rs",
    deidentify: Annotated[
        bool,
        typer.Option(
            "--deidentify",
            help="Replace names, places, dates, numbers and other identifiers in every text "
            "(transcripts, rationales, drafts, metadata) by the client's surrogates, the same "
            "a de-identified draft request carries; the manifest records the method.",
        ),
    ] = False,
    deidentify_mode: Annotated[
        str,
        typer.Option(help="With --deidentify: surrogate (realistic stand-ins) or tag ([NAME_1])."),
    ] = "surrogate",
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Write training-ready files with client-grouped folds, a manifest and an index."""
    from annotate.export.service import ExportOptions, export_dataset

    options = ExportOptions(
        fmt=fmt,
        out_dir=out,
        folds=folds,
        seed=seed,
        min_score=min_score,
        include_unreviewed=include_unreviewed,
        target=target,
        parquet=parquet,
        instrument_id=instrument,
        dpo_min_edit=dpo_min_edit,
        force=force,
        conversational=conversational,
        prompt_metadata=()
        if prompt_metadata is None
        else tuple(key.strip() for key in prompt_metadata.split(",")),
        scheme_id=scheme,
        deidentify=deidentify,
        deidentify_mode=deidentify_mode,
    )
    store = engine()
    if is_terminal() and not as_json:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("exporting sessions", total=None)
            manifest = export_dataset(
                store,
                options,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    else:
        manifest = export_dataset(store, options)
    warning = minimum_warning(manifest)
    if warning is not None:
        typer.echo(warning, err=True)
    if as_json:
        print_json(manifest)
        return
    for line in export_summary(out, manifest):
        typer.echo(line)


def minimum_warning(manifest: dict[str, Any]) -> str | None:
    """One line naming the files below OpenAI's fine-tuning minimum (None when none is)."""
    below = manifest.get("warnings", [])
    if not below:
        return None
    shown = ", ".join(f"{w['file']} ({w['records']})" for w in below[:3])
    more = f" and {len(below) - 3} more" if len(below) > 3 else ""
    return (
        f"warning: {counted(len(below), 'file')} {'holds' if len(below) == 1 else 'hold'} "
        "fewer than OpenAI fine-tuning's minimum "
        f"of {below[0]['minimum']} examples: {shown}{more} (manifest.json warnings)"
    )


def export_summary(out: Path, manifest: dict[str, Any]) -> list[str]:
    """What an export wrote, for the terminal: counts, exclusions and the folds."""
    counts = manifest["counts"]
    excluded = ", ".join(f"{k} {v}" for k, v in counts["excluded"].items()) or "none"
    deidentified = manifest.get("deidentification")
    lines = [
        f"{out}: {counted(counts['records'], 'record')} from "
        f"{counted(counts['sessions'], 'session')} of {counted(counts['clients'], 'client')} "
        f"({manifest['format']}, target {manifest['target']}"
        + (f"; de-identified, {deidentified['mode']})" if deidentified else ")")
    ]
    if "codes_by_family" in counts:
        families = ", ".join(f"{k} {v}" for k, v in counts["codes_by_family"].items())
        lines.append(f"codes: {counts['codes']} ({families or 'none'})")
    lines.append(f"left out: {excluded}")
    if "dpo_excluded" in counts:
        pairs_out = ", ".join(f"{k} {v}" for k, v in counts["dpo_excluded"].items()) or "none"
        lines.append(f"no preference pair: {pairs_out}")
    folds = manifest["folds"]
    if folds is not None and folds["kind"] == "loco":
        # One line per fold would be one per client: the range says as much.
        table = manifest["fold_table"]
        sessions = [entry["val"]["sessions"] for entry in table]
        val = [entry["val"]["records"] for entry in table]
        train = [entry["train"]["records"] for entry in table]
        lines.append(
            f"{len(table)} folds, one per client (leave one client out): val "
            f"{min(sessions)}-{max(sessions)} sessions and {min(val)}-{max(val)} records, "
            f"train {min(train)}-{max(train)} records (manifest.json fold_table)"
        )
        return lines
    for entry in manifest["fold_table"]:
        val = entry["val"]
        lines.append(
            f"fold {entry['fold']}: val {counted(val['clients'], 'client')}, "
            f"{counted(val['sessions'], 'session')}, {counted(val['records'], 'record')}; "
            f"train {counted(entry['train']['records'], 'record')}"
        )
    return lines


def format_table(result: dict[str, Any]) -> list[str]:
    """The published layout: a row per rater, r / rho / MSE under each dimension."""
    dimensions = result["dimensions"]
    folded = result["folds"] is not None
    width = 11 if folded else 6
    label_width = max(len(row["label"]) for row in result["rows"]) + 2
    group = width * 3 + 2
    header = " " * label_width + " ".join(f"{d.capitalize():<{group}}" for d in dimensions)
    sub = " " * label_width + " ".join(
        " ".join(f"{name:<{width}}" for name in ("r", "rho", "MSE")) for _ in dimensions
    )
    lines = [header.rstrip(), sub.rstrip()]
    if folded and result["sessions_outside_folds"]:
        lines.insert(0, folds_coverage(result))
    for row in result["rows"]:
        cells = []
        for dimension in dimensions:
            for metric in ("pearson", "spearman", "mse"):
                if folded:
                    summary = row["fold_summary"][dimension][metric]
                    cells.append(f"{estimate_cell(summary['mean'], summary['sd']):<{width}}")
                else:
                    cells.append(f"{estimate_cell(row['overall'][dimension][metric]):<{width}}")
        lines.append(f"{row['label']:<{label_width}}" + " ".join(cells).rstrip())
    n = {d: result["rows"][1]["overall"][d]["n"] for d in dimensions}
    note = f"{result['predictions']['sessions']} sessions; n per dimension: " + ", ".join(
        f"{d} {n[d]}" for d in dimensions
    )
    if folded:
        note += f"; mean±SD over {result['folds']} folds"
        if result["sessions_outside_folds"]:
            note += f"; {result['sessions_outside_folds']} session(s) in no fold"
    lines.append(note)
    if folded:
        # Leaving one client out, many folds hold one or two sessions: no r, no rho there.
        used = [
            summary.get("folds", result["folds"])
            for row in result["rows"]
            for dimension in dimensions
            for summary in row["fold_summary"][dimension].values()
        ]
        if used and min(used) < result["folds"]:
            lines.append(
                f"a cell's mean±SD is over the folds that give a figure ({min(used)} to "
                f"{max(used)} of {result['folds']}): r and rho need two sessions with "
                "differing scores"
            )
    return lines


def folds_coverage(result: dict[str, Any]) -> str:
    """The line before a fold table when some predicted sessions are in no fold."""
    total, outside = result["predictions"]["sessions"], result["sessions_outside_folds"]
    inside = total - outside
    return (
        f"{inside} of the {total} predicted sessions {'is' if inside == 1 else 'are'} in the "
        f"{result['folds']} folds of {result['folds_from']}; {outside} "
        f"{'is' if outside == 1 else 'are'} in no fold and count only in the pooled figures "
        "(--json: rows[].overall)"
    )


def evaluate(
    predictions: Annotated[
        Path,
        typer.Argument(
            help="JSONL of {session_id, item_id, rating[, rationale]}.", show_default=False
        ),
    ],
    folds_from: Annotated[
        Path | None,
        typer.Option(help="An export directory: report each fold's mean and SD."),
    ] = None,
    instrument: Annotated[str, typer.Option(help="Instrument of the predicted items.")] = "wai-sr",
    bertscore_model: Annotated[
        Path | None,
        typer.Option(
            help="A local model directory for BERTScore of the rationales (nothing is "
            "downloaded; needs pip install 'annotate[bertscore]')."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score predicted ratings against the clients' per dimension, beside the counselors';
    and predicted rationales against the experts' (BLEU, ROUGE, optionally BERTScore)."""
    from annotate.analysis.evaluate import evaluate as run_evaluation

    result = run_evaluation(engine(), predictions, folds_from, instrument, bertscore_model)
    if as_json:
        print_json(result)
        return
    for line in format_table(result):
        typer.echo(line)
    if result["rationales"] is not None:
        typer.echo("")
        for line in format_rationale_table(result):
            typer.echo(line)
    if result["binary"] is not None:
        from cli.commands._evaluate_view import format_binary_tables

        typer.echo("")
        for line in format_binary_tables(result):
            typer.echo(line)


def format_rationale_table(result: dict[str, Any]) -> list[str]:
    """BLEU, ROUGE-1 and ROUGE-L F1 per dimension and overall, against the experts' text."""
    section = result["rationales"]
    groups = [*result["dimensions"], "all"]
    folded = "fold_summary" in section
    width = 14 if folded else 8
    lines = [
        "Rationales, against the accepted expert rationale of the same item",
        " " * 24 + "".join(f"{group.capitalize():<{width}}" for group in groups).rstrip(),
    ]
    metrics = [("bleu", "BLEU"), ("rouge1", "ROUGE-1 F1"), ("rougeL", "ROUGE-L F1")]
    if section["bertscore"] is not None:
        metrics.append(("bertscore_f1", "BERTScore F1"))
    for metric, label in metrics:
        cells = []
        for group in groups:
            if folded:
                summary = section["fold_summary"][group][metric]
                cells.append(f"{estimate_cell(summary['mean'], summary['sd']):<{width}}")
            else:
                cells.append(f"{estimate_cell(section['overall'][group][metric]):<{width}}")
        lines.append(f"{label:<24}" + "".join(cells).rstrip())
    note = (
        f"{section['scored']} rationales scored; {section['without_reference']} without an "
        "accepted expert rationale (not scored)"
    )
    if folded:
        note += f"; mean±SD over {result['folds']} folds"
    lines.append(note)
    lines.extend(rouge_tokenizer_lines(section))
    lines.append(
        "BLEU: sacrebleu (zh tokenizer for Chinese, char for other unspaced, 13a otherwise)."
    )
    if section["bertscore"] is not None:
        lines.append(f"BERTScore with {section['bertscore']['model']}.")
    else:
        lines.append("BERTScore " + section["bertscore_note"] + ".")
    return lines


ROUGE_TOKENIZER_NAMES = {
    "rouge-score": "rouge-score's default tokenizer",
    "unicode-words": "Unicode words",
    "characters": "characters",
}


def rouge_tokenizer_lines(section: dict[str, Any]) -> list[str]:
    """Which tokenizer ROUGE used for how many rationales, in which session languages."""
    parts = [
        f"{ROUGE_TOKENIZER_NAMES[name]} for {used['rationales']} ({', '.join(used['languages'])})"
        for name, used in section["rouge_tokenizers"].items()
    ]
    return textwrap.wrap("ROUGE (no stemming) tokenized with " + "; ".join(parts) + ".", 88)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("evaluate")(evaluate)
