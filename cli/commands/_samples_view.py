"""``annotate draft --samples K``: its checks and what it prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from cli.commands._common import show_table

if TYPE_CHECKING:
    from annotate.drafting.samples import SamplesSummary

MOST_UNCERTAIN = 5  # items listed after a samples run


def sampling_temperature(
    samples: int | None, temperature: float | None, provider: str | None, *others: bool
) -> float:
    """The temperature to draft at: as given, else 0; with --samples the default sampling
    temperature (said on stderr), and a one-line refusal of what cannot sample (K outside
    2..20, a temperature of 0, the offline drafter, markers and batches: ``others``)."""
    if samples is None:
        return temperature if temperature is not None else 0.0
    from annotate.core.errors import ConfigError
    from annotate.drafting.samples import SAMPLING_TEMPERATURE, check_samples

    check_samples(samples)
    if any(others):
        raise ConfigError(
            "--samples drafts rationales with the endpoint directly: not with --markers, "
            "--batch-api, --batch-file or --ingest"
        )
    if provider == "offline":
        raise ConfigError(
            "--samples needs a model endpoint: the offline drafter is deterministic, its "
            "samples would all agree"
        )
    if temperature is None:
        typer.echo(
            f"--samples: sampling at temperature {SAMPLING_TEMPERATURE} (--temperature sets "
            "another)",
            err=True,
        )
        return SAMPLING_TEMPERATURE
    if temperature <= 0:
        raise ConfigError(f"--samples needs --temperature above 0 (got {temperature:g}): "
                          "samples at 0 would all agree")  # fmt: skip
    return temperature


def samples_note(figures: Any) -> str:
    """What a dry run says of samples ('' for single drafts)."""
    if figures.samples <= 1:
        return ""
    return f" x {figures.samples} samples = {figures.requests} requests"


def show_samples(summary: SamplesSummary, line: str) -> None:
    """The batch's summary LINE, the uncertainty's mean and median, and the most
    uncertain items as a table."""
    import statistics

    import pandas as pd

    values = summary.uncertainties
    typer.echo(f"{line}; {summary.samples} samples per item, {len(summary.items)} set(s) stored")
    if not summary.items:
        return
    without = len(summary.items) - len(values)
    gaps = f"; {without} item(s) without: fewer than 2 samples had text" if without else ""
    if values:
        typer.echo(
            f"uncertainty ({summary.method}): mean {statistics.fmean(values):.3f}, "
            f"median {statistics.median(values):.3f} over {len(values)} item(s){gaps}"
        )
    else:
        typer.echo(f"uncertainty ({summary.method}): none{gaps}")
    top = summary.most_uncertain(MOST_UNCERTAIN)
    if values and max(values) == 0:
        typer.echo("every item's samples agreed word for word")
    elif top:
        rows = [{"session": i.session_id, "item": i.item_id, "uncertainty": i.uncertainty,
                 "samples with text": i.with_text} for i in top]  # fmt: skip
        show_table(pd.DataFrame(rows), f"The {len(top)} most uncertain item(s)")
