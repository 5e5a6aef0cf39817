"""``annotate trace``: the turn-level alliance trace, and how far it follows the ratings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.commands._common import (
    BaseUrlOption,
    ConcurrencyOption,
    DeidentifyModeOption,
    MaxRetriesOption,
    ProgressBar,
    SessionsOption,
    TimeoutOption,
    engine,
    is_terminal,
    print_json,
    settings,
    show_table,
)

if TYPE_CHECKING:
    from annotate.research.trace import TraceRun


def trace(
    provider: Annotated[
        str | None,
        typer.Option(
            help="openai (embeddings from any OpenAI-compatible /v1/embeddings endpoint) or "
            "offline (lexical: shared character sequences, no model). Default: openai when "
            "OPENAI_API_KEY or OPENAI_BASE_URL is set, else offline.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Embedding model (default: $ANNOTATE_EMBED_MODEL, then text-embedding-3-small).",
            show_default=False,
        ),
    ] = None,
    base_url: BaseUrlOption = None,
    session: SessionsOption = None,
    concurrency: ConcurrencyOption = 8,
    timeout: TimeoutOption = 60.0,
    max_retries: MaxRetriesOption = 4,
    batch: Annotated[int, typer.Option(min=1, help="Turns per embeddings request.")] = 64,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Trace again the sessions already traced with this method, model and "
            "instrument version (default: they are skipped, so a rerun resumes).",
        ),
    ] = False,
    deidentify: Annotated[
        bool | None,
        typer.Option(
            "--deidentify/--no-deidentify",
            help="Replace identifiers in the turns sent for embedding, as draft does. "
            "Default: on when the endpoint is not on this machine.",
            show_default=False,
        ),
    ] = None,
    deidentify_mode: DeidentifyModeOption = "surrogate",
    validate: Annotated[
        bool,
        typer.Option(
            "--validate",
            help="Send nothing: report how the stored trace follows the ratings (Pearson and "
            "Spearman with bootstrap intervals per speaker and dimension), and the "
            "client-minus-counselor gap by condition and by third of the session.",
        ),
    ] = False,
    boot: Annotated[
        int, typer.Option(min=100, help="With --validate: bootstrap resamples.")
    ] = 2000,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print JSON: the run, then per session and per turn."),
    ] = False,
) -> None:
    """Turn-level alliance trace: each turn's similarity to each dimension's items
    (embeddings or offline lexical); --validate."""
    if validate:
        kind = {"openai": "embedding", "offline": "lexical"}.get(provider or "")
        _validate(session, kind, model, boot, as_json)
        return
    from annotate.drafting.deidentify import check_mode
    from annotate.research.trace import TraceSettings, plan, run_trace

    chosen_settings = TraceSettings(
        provider=provider, model=model, base_url=base_url, timeout=timeout,
        max_retries=max_retries, batch=batch, deidentify=deidentify,
        deidentify_mode=check_mode(deidentify_mode),
    )  # fmt: skip
    endpoint = settings().endpoint
    chosen = plan(chosen_settings, endpoint)
    warning = chosen.deidentify.warning(chosen.host)
    if warning is not None:
        typer.echo(warning.replace("each draft", "each trace"), err=True)
    store = engine()

    def progress(run: TraceRun, total: int) -> None:
        bar.show(run.ok + run.failed, total, f"{run.failed} failed" if run.failed else "")

    with ProgressBar(is_terminal() and not as_json, "tracing") as bar:
        run = run_trace(store, chosen_settings, sessions=session or None, force=force,
                        concurrency=concurrency, endpoint=endpoint,
                        on_progress=progress)  # fmt: skip
    if as_json:
        print_json({"run": run.as_json(), "sessions": _traces(store, session, run)})
    else:
        typer.echo(run.summary())
        for error in run.errors[:10]:
            typer.echo(f"  failed: {error}", err=True)
        if len(run.errors) > 10:
            typer.echo(f"  ... and {len(run.errors) - 10} more", err=True)
        if run.ok or run.skipped:
            _table(store, session, run)
    if run.failed:
        typer.echo("rerun to trace the failed sessions (those traced are kept)", err=True)
        raise typer.Exit(1)


def _traces(store: Any, session: list[str] | None, run: TraceRun) -> list[dict[str, Any]]:
    """Each selected session's trace of this run's method and model, per session and turn."""
    from annotate.research.stored import traces_of

    found = []
    for trace in traces_of(store, session or None, run.method, run.model):
        found.append({
            "session_id": trace.session_id, "method": trace.method, "model": trace.model,
            "label": trace.label, "instrument_id": trace.instrument_id,
            "instrument_version": trace.instrument_version, "session": trace.means(),
            "turns": [{"turn": t.number, "speaker": t.speaker, "scores": t.scores}
                      for t in trace.turns],
        })  # fmt: skip
    return found


def _table(store: Any, session: list[str] | None, run: TraceRun) -> None:
    """Per session: each speaker's mean score per dimension."""
    import pandas as pd

    from annotate.research.stored import traces_of

    rows = []
    for trace in traces_of(store, session or None, run.method, run.model):
        means = trace.means()
        row: dict[str, Any] = {"session": trace.session_id, "turns": len(trace.turns)}
        for speaker in ("client", "counselor"):
            for dimension in trace.dimensions:
                row[f"{speaker} {dimension}"] = means.get(speaker, {}).get(dimension)
        rows.append(row)
    if rows:
        show_table(pd.DataFrame(rows), f"Mean similarity to the items per speaker ({run.label}); "
                   "inferred from words, not ratings: see --validate")  # fmt: skip


def _validate(session: list[str] | None, method: str | None, model: str | None, boot: int,
              as_json: bool) -> None:  # fmt: skip
    """How far the stored trace follows the ratings, and the gap by condition and third."""
    from annotate.research import validate

    if session:
        from annotate.core.errors import ConfigError

        raise ConfigError("--validate reads every traced session: it takes no --session")
    figures = validate.report(engine(), method=method, model=model, n_boot=boot)
    if as_json:
        print_json(figures.as_json())
        return
    typer.echo(figures.describe())
    show_table(
        figures.correlations_view(),
        "Session score from a speaker's turns vs the same speaker's own rating, per dimension",
    )
    show_table(
        figures.by_condition_view(),
        "Client-minus-counselor gap in the trace (client "
        "turns' score minus counselor turns'), by condition",
    )
    show_table(figures.by_third_view(), "The gap by third of the session")


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)
