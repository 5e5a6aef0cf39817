"""``annotate judge``: a model scores accepted rationales and predictions on the rubric."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.commands._common import (
    BaseUrlOption,
    ConcurrencyOption,
    ContextBudgetOption,
    DeidentifyModeOption,
    MaxRetriesOption,
    MaxTokensOption,
    ModelOption,
    PollSecondsOption,
    PriceInOption,
    PriceOutOption,
    ProgressBar,
    SessionsOption,
    TimeoutOption,
    engine,
    is_terminal,
    print_json,
)
from cli.commands._common import settings as invocation


def judge(
    provider: Annotated[
        str | None,
        typer.Option(
            help="openai (any OpenAI-compatible server). The judge needs a model: offline "
            "is refused. Default: openai when OPENAI_API_KEY or OPENAI_BASE_URL is set.",
            show_default=False,
        ),
    ] = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    targets: Annotated[
        str,
        typer.Option(
            help="What to judge: all, rationales (the current version of every accepted "
            "rationale) or predictions (imported model predictions)."
        ),
    ] = "all",
    rationales_only: Annotated[
        bool, typer.Option("--rationales-only", help="Same as --targets rationales.")
    ] = False,
    predictions_only: Annotated[
        bool, typer.Option("--predictions-only", help="Same as --targets predictions.")
    ] = False,
    session: SessionsOption = None,
    limit: Annotated[
        int | None, typer.Option(min=0, help="Judge at most this many texts.", show_default=False)
    ] = None,
    concurrency: ConcurrencyOption = 8,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Judge every selected text again (default: only those whose text, model, "
            "prompt or rubric changed since their judgement, and failed ones).",
        ),
    ] = False,
    retry_ungrounded: Annotated[
        bool,
        typer.Option(
            "--retry-ungrounded", help="Also judge again the texts whose judgement was ungrounded."
        ),
    ] = False,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.0,
    max_tokens: MaxTokensOption = 600,
    timeout: TimeoutOption = 60.0,
    max_retries: MaxRetriesOption = 4,
    context_budget: ContextBudgetOption = 6000,
    deidentify: Annotated[
        bool | None,
        typer.Option(
            "--deidentify/--no-deidentify",
            help="Replace names, places, dates, numbers and other identifiers in what is "
            "sent (the transcript and the judged text) by consistent surrogates, and map the "
            "reply back before it is stored. Default: on when the endpoint is not on this "
            "machine (loopback), off when it is. --no-deidentify for a remote endpoint is "
            "recorded in each judgement.",
            show_default=False,
        ),
    ] = None,
    deidentify_mode: DeidentifyModeOption = "surrogate",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Count the texts and the tokens a run would send; send nothing."
        ),
    ] = False,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    batch_api: Annotated[
        bool,
        typer.Option(
            "--batch-api",
            help="Use the server's batch interface (OpenAI Batch API: half the price): "
            "upload, poll, store; a rerun resumes an unfinished batch.",
        ),
    ] = False,
    poll_seconds: PollSecondsOption = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Score accepted rationales and predictions on the rubric with a model, for leads."""
    from annotate.core.errors import ConfigError
    from annotate.drafting import DraftSettings
    from annotate.drafting.deidentify import check_mode
    from annotate.drafting.endpoint_formats import FormatMemory

    if rationales_only and predictions_only:
        raise ConfigError("give one of --rationales-only and --predictions-only")
    if rationales_only or predictions_only:
        if targets != "all":
            raise ConfigError("give --targets or --rationales-only/--predictions-only, not both")
        targets = "rationales" if rationales_only else "predictions"
    if not dry_run and (price_in is not None or price_out is not None):
        raise ConfigError("--price-in and --price-out go with --dry-run")
    settings = DraftSettings(
        provider=provider, model=model, base_url=base_url, temperature=temperature,
        max_tokens=max_tokens, timeout=timeout, max_retries=max_retries,
        context_budget=context_budget, deidentify=deidentify,
        deidentify_mode=check_mode(deidentify_mode),
    )  # fmt: skip
    from annotate.judging import estimate_judge, run_judge
    from annotate.judging.service import needs_model

    endpoint = invocation().endpoint
    needs_model(settings, endpoint)  # before the store is opened: one line, nothing read
    store = engine()
    settings.formats = FormatMemory(store)
    chosen: dict[str, Any] = dict(targets=targets, sessions=session or None, limit=limit,
                                  force=force, retry_ungrounded=retry_ungrounded)  # fmt: skip
    if dry_run:
        figures = estimate_judge(store, settings, **chosen, price_in=price_in,
                                 price_out=price_out, endpoint=endpoint)  # fmt: skip
        if as_json:
            print_json(figures.as_json())
            return
        cost = (f"; at most {figures.cost_at_most:.2f} at the given prices"
                if figures.cost_at_most is not None else "")  # fmt: skip
        typer.echo(
            f"would judge {figures.texts} text(s) with {figures.provider}/{figures.model} "
            f"(prompt {figures.prompt_version}, rubric {figures.rubric_version}; "
            f"{figures.skipped_unchanged} unchanged since judged): about "
            f"{figures.input_tokens:,} input tokens and at most "
            f"{figures.output_tokens_at_most:,} output tokens{cost}; nothing was sent"
        )
        return
    _warn(settings, endpoint)
    if batch_api:
        _batch(store, settings, chosen, poll_seconds, as_json, endpoint)
        return

    def progress(run: Any, total: int) -> None:
        bar.show(run.progress.done, total, _outcome(run))

    with ProgressBar(is_terminal() and not as_json, "judging") as bar:
        run = run_judge(store, settings, **chosen, concurrency=concurrency,
                        on_progress=progress, endpoint=endpoint)  # fmt: skip
    if as_json:
        print_json(run.as_json())
        return
    from cli.commands.draft import deidentified_note

    typer.echo(run.summary() + deidentified_note(_plan(settings, endpoint)))
    _standing_table(run)
    for line in run.errors[:10]:
        typer.echo(f"  {line}")
    if len(run.errors) > 10:
        typer.echo(f"  ... and {len(run.errors) - 10} more")


def _batch(store: Any, settings: Any, chosen: dict[str, Any], poll_seconds: float,
           as_json: bool, endpoint: Any) -> None:  # fmt: skip
    """``--batch-api``: submit or resume the judge's batch, poll, store its judgements."""
    from annotate.judging import JudgeSelection
    from annotate.judging.batch import judge_batch

    def polled(done: int, total: int, status: str) -> None:
        if not as_json:
            typer.echo(f"batch {status}: {done}/{total} done", err=True)

    selection = JudgeSelection(**chosen)
    ran = judge_batch(store, settings, selection, poll_seconds=poll_seconds, on_poll=polled,
                      endpoint=endpoint)  # fmt: skip
    if as_json:
        print_json(ran.as_json())
        return
    changed = f"; {ran.left_out} left out: their text changed since sent" if ran.left_out else ""
    typer.echo(f"batch {ran.batch_id or '-'} ({'resumed' if ran.resumed else 'new'}, "
               f"{ran.status}): {ran.run.summary()}{changed}")  # fmt: skip
    for line in ran.run.errors[:10]:
        typer.echo(f"  {line}")


def _plan(settings: Any, endpoint: Any) -> Any:
    from annotate.drafting.deidentify import decide
    from annotate.drafting.providers import with_endpoint

    filled = with_endpoint(settings, endpoint)
    return decide(filled.base_url, settings.deidentify, settings.deidentify_mode)


def _warn(settings: Any, endpoint: Any) -> None:
    """The drafter's warning when identifiable text would leave this machine."""
    from annotate.drafting.providers import host_of, with_endpoint
    from cli.commands.draft import warn_undeidentified

    warn_undeidentified(
        _plan(settings, endpoint), host_of(with_endpoint(settings, endpoint).base_url)
    )


def _standing_table(run: Any) -> None:
    """Per criterion: the mean score of the counted judgements and how many fall below."""
    from rich.console import Console
    from rich.table import Table

    standing = run.standing
    if standing is None or not standing.judged:
        typer.echo("no text of the selection has a grounded judgement yet")
        return
    title = f"Judge scores, rubric {run.rubric_version} (for leads; reviewers never see them)"
    table = Table(title=title, title_justify="left", min_width=len(title))
    table.add_column("criterion")
    table.add_column("mean", justify="right")
    table.add_column("judged", justify="right")
    table.add_column("below threshold", justify="right")
    for name, figures in standing.criteria.items():
        mean = "-" if figures.mean is None else f"{figures.mean:.2f}"
        table.add_row(name, mean, str(figures.judged), str(figures.below_threshold))
    Console(width=160).print(table)
    typer.echo(
        f"{standing.judged} of {standing.texts} selected text(s) have a grounded "
        f"judgement of their current text; the judge would fail "
        f"{standing.would_fail} of them"
    )


def _outcome(run: Any) -> str:
    """The progress bar's line beside the count: failures and tokens."""
    figures = run.progress
    tokens = f"{figures.tokens_in:,}/{figures.tokens_out:,} tok in/out"
    return f"{figures.failed} failed · {figures.ungrounded} ungrounded · {tokens}"


def register(app: typer.Typer) -> None:
    app.command("judge")(judge)
