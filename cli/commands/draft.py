"""``annotate draft``: draft a rationale for every (session, item), resumably."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    SessionsOption,
    TimeoutOption,
    engine,
    is_terminal,
    print_json,
)
from cli.commands._common import settings as invocation

if TYPE_CHECKING:
    from annotate.drafting import BatchSummary


def draft(
    provider: Annotated[
        str | None,
        typer.Option(
            help="openai (any OpenAI-compatible server) or offline. Default: openai when "
            "OPENAI_API_KEY or OPENAI_BASE_URL is set, else offline.",
            show_default=False,
        ),
    ] = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    concurrency: ConcurrencyOption = 8,
    limit: Annotated[
        int | None, typer.Option(min=0, help="Draft at most this many items.", show_default=False)
    ] = None,
    only_missing: Annotated[
        bool,
        typer.Option(
            "--only-missing/--force",
            help="Skip items already drafted with this provider, model and prompt version "
            "(default), or draft everything selected again.",
        ),
    ] = True,
    retry_ungrounded: Annotated[
        bool,
        typer.Option(
            "--retry-ungrounded", help="Also draft again the items whose draft was ungrounded."
        ),
    ] = False,
    include_accepted: Annotated[
        bool,
        typer.Option(
            "--include-accepted",
            help="Also draft the items whose rationale is already accepted (left out by "
            "default: nobody reads a draft of a finished item).",
        ),
    ] = False,
    dimension: Annotated[
        str | None,
        typer.Option(help="Only items of this dimension (goal, task, bond).", show_default=False),
    ] = None,
    session: SessionsOption = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            help="Sampling temperature (default 0; with --samples 0.8).", show_default=False
        ),
    ] = None,
    max_tokens: MaxTokensOption = 600,
    seed: Annotated[
        int | None, typer.Option(help="Sampling seed, where the server supports one.")
    ] = 0,
    timeout: TimeoutOption = 60.0,
    max_retries: MaxRetriesOption = 4,
    context_budget: ContextBudgetOption = 6000,
    context_window: Annotated[
        int | None,
        typer.Option(
            min=256,
            help="The server's context size in tokens: the transcript gets what is left "
            "after the fixed prompt and --max-tokens (counted by the server's tokenizer "
            "where it has one). Replaces --context-budget.",
            show_default=False,
        ),
    ] = None,
    response_format: Annotated[
        str | None,
        typer.Option(
            help="Force json_schema, json_object_schema (JSON mode with the schema, as "
            "llama-cpp-python takes it), json_object or text (default: the first the server "
            "accepts, told from its refusal and kept for the batch).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Count the items and the tokens the batch would send (and the share a "
            "prefix cache could reuse); send nothing.",
        ),
    ] = False,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    batch_api: Annotated[
        bool,
        typer.Option(
            "--batch-api",
            help="Use the server's batch interface (OpenAI Batch API: half the price): "
            "upload, poll, ingest; a rerun resumes an unfinished batch.",
        ),
    ] = False,
    batch_file: Annotated[
        Path | None,
        typer.Option(help="Only write the batch's requests as JSONL (e.g. for vLLM run_batch)."),
    ] = None,
    ingest: Annotated[
        Path | None,
        typer.Option(
            help="Read a batch runner's output JSONL into drafts: every line is checked "
            "first (one bad line writes nothing); lines already ingested are skipped."
        ),
    ] = None,
    poll_seconds: PollSecondsOption = 10.0,
    markers: Annotated[
        bool,
        typer.Option(
            "--markers",
            help="Propose turn codes (3RS markers) instead of rationales: per turn a code, "
            "a reason and a quote, for coders to accept or reject. Offline: the cue hinter.",
        ),
    ] = False,
    scheme: Annotated[
        str, typer.Option(help="With --markers: the marker scheme to propose codes of.")
    ] = "3rs",
    deidentify: Annotated[
        bool | None,
        typer.Option(
            "--deidentify/--no-deidentify",
            help="Replace names, places, dates, numbers and other identifiers in what is "
            "sent by consistent surrogates, and map the reply back before it is stored. "
            "Default: on when the endpoint is not on this machine (loopback), off when it "
            "is. --no-deidentify for a remote endpoint is recorded in each draft.",
            show_default=False,
        ),
    ] = None,
    deidentify_mode: DeidentifyModeOption = "surrogate",
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            help="Ask K (2..20) drafts per item at a temperature above 0 and store how much "
            "they disagree (1 - mean pairwise ROUGE-L F1): the model's uncertainty. A rerun "
            "skips items with a finished set of K from this model and prompt.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Draft a rationale per (session, item) with an LLM or offline; reruns resume."""
    from annotate.drafting import DraftSettings, WorkSelection, make_provider, run_batch
    from annotate.drafting.deidentify import check_mode
    from cli.commands._samples_view import sampling_temperature

    temperature = sampling_temperature(samples, temperature, provider, markers, batch_api,
                                       batch_file is not None, ingest is not None)  # fmt: skip

    settings = DraftSettings(
        provider=provider,
        model=model,
        base_url=base_url,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        timeout=timeout,
        max_retries=max_retries,
        context_budget=context_budget,
        response_format=response_format,
        context_window=context_window,
        deidentify=deidentify,
        deidentify_mode=check_mode(deidentify_mode),
    )
    if markers:
        if (dry_run or batch_api or batch_file or ingest or dimension or limit is not None
                or include_accepted):  # fmt: skip
            from annotate.core.errors import ConfigError

            raise ConfigError(
                "--markers proposes codes per session: it takes --session, the endpoint "
                "options and --concurrency, not --dry-run, batches, --dimension, --limit or "
                "--include-accepted"
            )
        _markers(_remembering(settings, engine()), session or None, scheme, concurrency, as_json)
        return
    selection = WorkSelection(
        sessions=session or None,
        dimension=dimension,
        limit=limit,
        force=not only_missing,
        retry_ungrounded=retry_ungrounded,
        include_accepted=include_accepted,
    )
    store = engine()
    chosen = make_provider(_remembering(settings, store), invocation().endpoint)
    from annotate.drafting.deidentify import plan_of

    if samples is not None:
        from annotate.drafting.samples import check_sampler

        check_sampler(chosen)
    if dry_run:
        from annotate.drafting.estimate import estimate

        figures = estimate(store, chosen, selection, price_in=price_in, price_out=price_out,
                           samples=samples)  # fmt: skip
        if as_json:
            print_json(figures.as_json())
        else:
            typer.echo(estimate_line(figures))
        return
    if price_in is not None or price_out is not None:
        from annotate.core.errors import ConfigError

        raise ConfigError("--price-in and --price-out go with --dry-run")
    warn_undeidentified(plan_of(chosen), chosen.base_url_host)
    if batch_api or batch_file is not None or ingest is not None:
        _batch(store, chosen, selection, batch_api, batch_file, ingest, poll_seconds, as_json)
        return
    if samples is not None:
        _samples(store, chosen, selection, samples, concurrency, as_json)
        return
    with _ProgressBar(enabled=is_terminal() and not as_json) as bar:
        summary = run_batch(
            store,
            chosen,
            selection,
            concurrency=concurrency,
            on_start=bar.start,
            on_progress=bar.update,
        )
    if as_json:
        print_json(summary.as_json())
    else:
        typer.echo(summary_line(summary, chosen.base_url_host))


def _samples(store, provider, selection, samples, concurrency, as_json) -> None:
    """``draft --samples K``: K drafts per item, the sets stored, the uncertainty shown."""
    from annotate.drafting import run_samples
    from cli.commands._samples_view import show_samples

    shown = is_terminal() and not as_json
    with _ProgressBar(shown, "requests", "items already sampled") as bar:
        summary = run_samples(store, provider, selection, samples, concurrency=concurrency,
                              on_start=bar.start, on_progress=bar.update)  # fmt: skip
    if as_json:
        print_json(summary.as_json())
    else:
        show_samples(summary, summary_line(summary.batch, provider.base_url_host, "sample"))


def warn_undeidentified(plan: Any, host: str | None) -> None:
    """One line on stderr when identifiable text goes to an endpoint off this machine."""
    warning = plan.warning(host)
    if warning is not None:
        typer.echo(warning, err=True)


def _remembering(settings, store):
    """The settings with the store's memory of each endpoint's negotiated format."""
    from annotate.drafting.endpoint_formats import FormatMemory

    settings.formats = FormatMemory(store)
    return settings


def _markers(settings, sessions, scheme, concurrency, as_json):
    """``draft --markers``: proposals from the model, or the offline hinter."""
    from annotate.drafting.markers import OFFLINE_MODEL, run_markers
    from annotate.drafting.providers import resolve_provider_name

    offline = resolve_provider_name(settings, endpoint=invocation().endpoint) == "offline"
    label = f"offline/{OFFLINE_MODEL}" if offline else f"openai/{settings.model or 'default'}"
    plan = None
    if not offline:
        from annotate.drafting.deidentify import decide
        from annotate.drafting.providers import OpenAIProvider, with_endpoint

        filled = with_endpoint(settings, invocation().endpoint)
        plan = decide(filled.base_url, settings.deidentify, settings.deidentify_mode)
        warn_undeidentified(plan, OpenAIProvider(filled).base_url_host)
    with _ProgressBar(enabled=is_terminal() and not as_json) as bar:
        started = False

        def progress(run, total):
            nonlocal started
            if not started:
                bar.start(total, run.skipped)
                started = True
            bar.markers(run)

        run = run_markers(
            settings.formats.engine, None if offline else settings, sessions=sessions,
            scheme_id=scheme, concurrency=concurrency, on_progress=progress,
        )  # fmt: skip
    if as_json:
        from dataclasses import asdict

        shown = {"deidentify": plan.provenance()} if plan and plan.provenance() else {}
        print_json({"provider": label, **asdict(run), **shown})
        return
    typer.echo(run.summary(label) + (deidentified_note(plan) if plan else ""))
    for line in run.errors[:10]:
        typer.echo(f"  failed: {line}")


def _batch(store, provider, selection, use_api, batch_file, ingest, poll_seconds, as_json):
    """``--batch-api``, ``--batch-file`` and ``--ingest``."""
    from annotate.core.errors import ConfigError
    from annotate.drafting import batch_api
    from annotate.drafting.providers import OpenAIProvider

    if not isinstance(provider, OpenAIProvider):
        raise ConfigError("batches need a model endpoint: --provider openai (or --base-url)")
    if sum((use_api, batch_file is not None, ingest is not None)) > 1:
        raise ConfigError("give one of --batch-api, --batch-file and --ingest")
    if batch_file is not None:
        count = batch_api.write_batch_file(store, provider, selection, batch_file)
        left_out = accepted_note(_accepted(store, provider, selection))
        asked = provider.params["response_format"]
        typer.echo(f"wrote {count} request(s) to {batch_file} (response format {asked})"
                   f"{left_out}; nothing was sent")  # fmt: skip
        return
    if ingest is not None:
        ingested = batch_api.ingest_file(store, provider, ingest)
        figures, already = ingested.progress, ingested.already_ingested
        result = {"ingested": figures.done, "ok": figures.ok, "ungrounded": figures.ungrounded,
                  "failed": figures.failed, "already_ingested": already}  # fmt: skip
        if as_json:
            print_json(result)
        else:
            typer.echo(
                f"ingested {figures.done} draft(s) from {ingest}: {figures.ok} ok, "
                f"{figures.ungrounded} ungrounded, {figures.failed} failed; "
                f"{already} already ingested (skipped)"
            )
        return

    def polled(done: int, total: int, status: str) -> None:
        if not as_json:
            typer.echo(f"batch {status}: {done}/{total} done", err=True)

    run = batch_api.submit_or_resume(store, provider, selection, poll_seconds=poll_seconds,
                                     on_poll=polled)  # fmt: skip
    figures, accepted = run.progress, _accepted(store, provider, selection)
    if as_json:
        print_json({"batch_id": run.batch_id, "resumed": run.resumed, "status": run.status,
                    "done": figures.done, "ok": figures.ok, "ungrounded": figures.ungrounded,
                    "failed": figures.failed, "tokens_in": figures.tokens_in,
                    "tokens_out": figures.tokens_out, "skipped_accepted": accepted})  # fmt: skip
    else:
        typer.echo(
            f"batch {run.batch_id or '-'} ({'resumed' if run.resumed else 'new'}, {run.status}): "
            f"{figures.done} drafted: {figures.ok} ok, {figures.ungrounded} ungrounded, "
            f"{figures.failed} failed{accepted_note(accepted)}"
        )


def _accepted(store, provider, selection) -> int:
    """How many selected items a batch left out because their rationale is accepted."""
    from annotate.drafting.batch import choose_work
    from store.db import session_scope

    if selection.include_accepted:
        return 0
    with session_scope(store) as session:
        return choose_work(session, provider, selection).accepted


def estimate_line(figures: Any) -> str:
    share = figures.cacheable_input_tokens / figures.input_tokens if figures.input_tokens else 0
    from cli.commands._samples_view import samples_note

    line = (
        f"would draft {figures.items} item(s){samples_note(figures)} with "
        f"{figures.provider}/{figures.model} (prompt "
        f"{figures.prompt_version}; {figures.skipped_already_drafted} already drafted): about "
        f"{figures.input_tokens:,} input tokens, {share:.0%} of them a prefix cache could "
        f"reuse, and at most {figures.output_tokens_at_most:,} output tokens"
    )
    if figures.cost_at_most is not None:
        line += f"; at most {figures.cost_at_most:.2f} at the given prices"
    return line + accepted_note(figures.skipped_accepted) + "; nothing was sent"


def accepted_note(accepted: int) -> str:
    """What the summary says of the items left out because their rationale is accepted."""
    if not accepted:
        return ""
    return f"; {accepted} left out as already accepted (--include-accepted drafts them)"


def summary_line(summary: BatchSummary, host: str | None, unit: str = "item") -> str:
    figures = summary.progress
    where = f" at {host}" if host else ""
    return (
        f"drafted {figures.done} {unit}(s) with {summary.provider}/{summary.model}{where} "
        f"(prompt {summary.prompt_version}): {figures.ok} ok, {figures.ungrounded} ungrounded, "
        f"{figures.failed} failed; {summary.skipped} "
        f"{'item(s) already sampled' if unit == 'sample' else 'already drafted'}"
        f"{accepted_note(summary.accepted)}; tokens {figures.tokens_in} in "
        f"({cached_note(figures.tokens_cached)}) / "
        f"{figures.tokens_out} out; {summary.seconds:.1f} s"
        f"{deidentified_note(summary.deidentify)}"
    )


def deidentified_note(plan: Any) -> str:
    """What the summary says of de-identification ('' when the endpoint is local and
    nothing was said)."""
    if plan is None:
        return ""
    if plan.on:
        return f"; transcripts sent de-identified ({plan.mode})"
    if plan.explicit_off:
        return "; transcripts sent NOT de-identified (--no-deidentify)"
    return ""


def cached_note(cached: int | None) -> str:
    """What the server said it reused from its prefix cache; unknown when it said nothing."""
    if cached is None:
        return "cached: unknown, the server did not report it"
    return f"{cached} from the server's cache"


class _ProgressBar:
    """A rich progress bar on stderr: rate, ETA, failures and tokens."""

    def __init__(
        self, enabled: bool, unit: str = "items", skipped: str = "already drafted"
    ) -> None:
        self.enabled = enabled
        self.unit, self.skipped = unit, skipped  # what is counted; what the skipped were
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("drafting"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[outcome]}"),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, total: int, skipped: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(
                "drafting", total=total, rate="", outcome=f"{skipped} {self.skipped}"
            )

    def markers(self, run) -> None:
        """``draft --markers``: sessions done, failures and grounded proposals."""
        if self._progress is None or self._task is None:
            return
        self._progress.update(
            self._task,
            completed=run.ok + run.ungrounded + run.failed,
            outcome=f"{run.failed} failed · {run.grounded}/{run.proposals} proposals grounded",
        )

    def update(self, figures) -> None:
        if self._progress is None or self._task is None:
            return
        speed = self._progress.tasks[0].speed
        self._progress.update(
            self._task,
            completed=figures.done,
            rate=f"{speed:.1f} {self.unit}/s" if speed else "",
            outcome=(
                f"{figures.failed} failed · {figures.ungrounded} ungrounded · "
                f"{figures.tokens_in:,}/{figures.tokens_out:,} tok in/out · "
                + (
                    f"{figures.tokens_cached:,} cached"
                    if figures.tokens_cached is not None
                    else "cached unknown"
                )  # fmt: skip
            ),
        )


def register(app: typer.Typer) -> None:
    app.command("draft")(draft)
