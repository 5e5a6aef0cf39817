"""One self-contained HTML report: tables and inline SVG charts, nothing fetched.

The file has no scripts, no external style sheets, fonts or images: it opens the same
offline, from an e-mail attachment, or archived beside a paper.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from annotate.analysis import svg
from annotate.analysis._data import dimension_order, drafts, ratings, rationales, reviews
from annotate.analysis.agreement import (
    BOOTSTRAP_SAMPLES,
    SEED,
    Level,
    agreement,
    criterion_scores,
    pass_rates,
)
from annotate.analysis.alignment import DEFAULT_INSTRUMENT, alignment, paired_scores
from annotate.analysis.edits import edit_stats, uncertainty_and_edits
from annotate.analysis.html import html_table
from annotate.analysis.lexicon import lexicon
from annotate.analysis.report_alignment import binary_section, group_sections
from annotate.analysis.report_alliance import counselor_section, flagged_note, watch_section
from annotate.analysis.report_codes import codes_section
from annotate.analysis.report_judge import judge_sections
from annotate.analysis.report_trace import trace_sections
from annotate.core.vocabulary import current_rubric
from annotate.research.counselors import SAMPLES as COUNSELOR_SAMPLES
from annotate.research.watch import not_on_track
from annotate.work.progress import counts
from store.db import reader
from store.models import Instrument
from store.private import write_private

if TYPE_CHECKING:
    import pandas as pd

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC",
       sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #0072B2; padding-bottom: .2rem;
     margin-top: 2.2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
p.meta { color: #666; margin-top: 0; }
p.note { background: #fff6e0; border-left: 4px solid #E69F00; padding: .4rem .7rem; }
div.table { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .85rem; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th { background: #f3f6fa; font-weight: 600; }
td.text, th.text { text-align: left; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
svg.chart { max-width: 100%; height: auto; background: #fff; }
"""


_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _scale(engine: Engine, instrument_id: str) -> tuple[int, int]:
    with reader(engine).connect() as connection:
        row = connection.execute(
            select(Instrument.scale_min, Instrument.scale_max).where(  # type: ignore[call-overload]
                Instrument.id == instrument_id
            )
        ).first()
    return (int(row[0]), int(row[1])) if row else (1, 5)


def _cumulative(moments: pd.Series) -> list[tuple[datetime, float]]:
    import pandas as pd

    stamps = pd.to_datetime(moments.dropna(), utc=True).sort_values()
    return [(stamp.to_pydatetime(), float(n)) for n, stamp in enumerate(stamps, start=1)]


def _progress_chart(engine: Engine) -> str:
    finals = rationales(engine)
    series = {
        "drafts": _cumulative(drafts(engine)["created_at"]),
        "accepted rationales": _cumulative(finals.loc[finals["final_text"].notna(), "current_at"]),
        "reviews": _cumulative(reviews(engine)["created_at"]),
    }
    return svg.step_chart("Progress over time", series)


def _client_rating_chart(engine: Engine, instrument_id: str, order: list[str]) -> str:
    low, high = _scale(engine, instrument_id)
    frame = ratings(engine, instrument_id)
    client = frame[frame["rater_role"] == "client"]
    values = list(range(low, high + 1))
    series = {
        dimension: [
            float(((client["dimension"] == dimension) & (client["value"] == v)).sum())
            for v in values
        ]
        for dimension in order
    }
    return svg.bar_chart(
        "Client ratings per dimension (items)",
        [str(v) for v in values],
        series,
        x_label="rating",
        y_label="item ratings",
    )


def _review_chart(engine: Engine) -> str:
    rubric = current_rubric(engine)
    frame = reviews(engine, rubric.names)
    values = list(range(rubric.scale_min, rubric.scale_max + 1))
    series = {name: [float((frame[name] == v).sum()) for v in values] for name in rubric.names}
    return svg.bar_chart(
        "Review scores", [str(v) for v in values], series, x_label="score", y_label="reviews"
    )


def _scatter_charts(engine: Engine, instrument_id: str, order: list[str]) -> str:
    low, high = _scale(engine, instrument_id)
    pairs = paired_scores(engine, instrument_id)
    charts = []
    for dimension in order:
        subset = pairs[pairs["dimension"] == dimension]
        client, counselor = subset["client"].astype(float), subset["counselor"].astype(float)
        points = list(zip(client, counselor, strict=True))
        charts.append(
            svg.scatter(
                f"{dimension.capitalize()} (n={len(points)})",
                points,
                low,
                high,
                x_label="client",
                y_label="counselor",
            )
        )
    return "\n".join(charts)


def _source_section(engine: Engine, level: Level, samples: int, seed: int) -> list[str]:
    """Experts' and models' texts, reviewed blind (only when a model's were reviewed)."""
    from annotate.analysis.by_source import by_source

    table = by_source(engine, level, samples, seed)
    sources = list(dict.fromkeys(table["source"]))
    if len(sources) < 2:
        return []
    means = {
        criterion: [
            float(table[(table["source"] == s) & (table["criterion"] == criterion)]["mean"].iloc[0])
            for s in sources
        ]
        for criterion in dict.fromkeys(table["criterion"])
    }
    chart = svg.bar_chart("Mean review score by source", sources, means, x_label="source",
                          y_label="mean score")  # fmt: skip
    return [
        "<h2>Human evaluation by source</h2>",
        "<p>Expert rationales and models' rationales, reviewed in the same blind queues "
        "on the same rubric; alpha over the texts reviewed twice or more.</p>",
        f'<div class="charts">{chart}</div>',
        html_table(table.drop(columns="note"), "Scores, pass share and alpha by source"),
    ]


def _flag_table(engine: Engine) -> pd.DataFrame:
    import pandas as pd

    from annotate.work.rationales.flags import flags

    rows = [
        {"flagged at": f"{f.flagged_at:%Y-%m-%d %H:%M}" if f.flagged_at else None,
         "session": f.session_id, "item": f.item_id, "dimension": f.dimension,
         "author": f.author, "status": f.status, "note": f.note}
        for f in flags(engine)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def build_report(
    engine: Engine,
    level: Level = "ordinal",
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
    instrument_id: str = DEFAULT_INSTRUMENT,
    top: int = 10,
    generated: datetime | None = None,
) -> str:
    """The whole report as one HTML document."""
    generated = generated or datetime.now(UTC)
    rubric = current_rubric(engine)
    order = dimension_order(engine, instrument_id)
    watch = not_on_track(engine)
    figures = counts(engine)
    alpha = agreement(engine, level, samples, seed)
    notes = [note for note in alpha["note"] if isinstance(note, str)]
    shown = alpha.drop(columns="note")
    summary = (
        f"{figures['sessions']} sessions, {figures['items']} items to explain, "
        f"{figures['drafts']} drafts, {figures['rationales']} rationales, "
        f"{figures['reviews']} reviews"
    )
    sections = [
        "<h1>Annotation report</h1>",
        f'<p class="meta">{escape(summary)} · generated {generated:%Y-%m-%d %H:%M} UTC</p>',
        flagged_note(watch),
        "<h2>Progress</h2>",
        f'<div class="charts">{_progress_chart(engine)}</div>',
        "<h2>Client ratings</h2>",
        f'<div class="charts">{_client_rating_chart(engine, instrument_id, order)}</div>',
        "<h2>Review quality</h2>",
        f'<div class="charts">{_review_chart(engine)}</div>',
        html_table(
            shown,
            f"Krippendorff's alpha ({level}), 95% bootstrap CI over {samples} resamples "
            f"of rationale versions (seed {seed})",
        ),
        *(f'<p class="note">{escape(note)}</p>' for note in dict.fromkeys(notes)),
        html_table(criterion_scores(engine), "Scores over all reviews"),
        html_table(criterion_scores(engine, "dimension"), "Scores per dimension"),
        html_table(criterion_scores(engine, "reviewer"), "Scores per reviewer"),
        html_table(
            pass_rates(engine, rubric),
            f"Rationales passing the threshold ({rubric.threshold}) on all "
            f"{_NUMBERS.get(len(rubric.criteria), len(rubric.criteria))} criteria",
        ),
        *_source_section(engine, level, samples, seed),
        *judge_sections(engine, level, samples, seed),
        "<h2>Counselor vs client</h2>",
        f'<div class="charts">{_scatter_charts(engine, instrument_id, order)}</div>',
        html_table(
            alignment(engine, instrument_id),
            "Counselor vs client dimension scores (sessions where both rated every item)",
        ),
        *binary_section(engine),
        *group_sections(engine, instrument_id, samples, seed),
        *watch_section(engine, watch),
        # each resample refits a mixed model: at most the counselor view's own default
        *counselor_section(engine, min(samples, COUNSELOR_SAMPLES), seed),
        *trace_sections(engine, samples, seed),
        *codes_section(engine, samples, seed),
        "<h2>Flagged by experts</h2>",
        html_table(_flag_table(engine), "Items an expert flagged with a note, oldest first"),
        "<h2>From draft to final text</h2>",
        html_table(edit_stats(engine, "dimension"), "Per dimension"),
        html_table(edit_stats(engine, "annotator"), "Per annotator"),
        f"<p>{escape(uncertainty_and_edits(engine)['sentence'])}</p>",
        "<h2>Words that mark each dimension</h2>",
        "<p>Weighted log-odds with an informative Dirichlet prior (Monroe et al. 2008), "
        "each dimension's accepted rationales against the other two; z &gt; 3 is "
        "significant.</p>",
        html_table(lexicon(engine, top=top), f"Top {top} words per dimension"),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>annotate report</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )


def write_report(engine: Engine, path: Path | str, **options: Any) -> Path:
    """Write the report to ``path`` (UTF-8) and return it."""
    path = Path(path)
    write_private(path, build_report(engine, **options).encode("utf-8"))  # flag notes, quotes
    return path
