"""``annotate assign`` and ``annotate review-assign``: hand out authoring and review work."""

from __future__ import annotations

from typing import Annotated

import typer

from annotate.core.plurals import counted
from cli.commands._common import engine, print_json


def assign(
    annotators: Annotated[
        str, typer.Option(help="Comma-separated expert names, e.g. ana,ben.", show_default=False)
    ],
    by: Annotated[
        str, typer.Option(help="Keep together all sessions of a 'client', or split by 'session'.")
    ] = "client",
    seed: Annotated[int, typer.Option(help="Seed for breaking ties (same seed, same split).")] = 0,
    order: Annotated[
        str,
        typer.Option(
            help="Order of each named expert's queue: 'session' (session and item order) or "
            "'uncertainty' (their not-yet-started items most uncertain first, by the "
            "drafts of `draft --samples`; unmeasured ones after, in session order)."
        ),
    ] = "session",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Split the unassigned rationales among experts, balanced, a client's sessions together."""
    from annotate.work.assignment import assign_authoring

    result = assign_authoring(engine(), annotators.split(","), by=by, seed=seed, order=order)
    if as_json:
        print_json(
            {
                "created": result.created,
                "total": result.total,
                "order": order,
                "ordered": result.ordered,
                "unmeasured": result.unmeasured,
            }
        )
        return
    for name in result.created:
        typer.echo(f"{name}: {result.created[name]} new, {result.total[name]} in total")
    if order == "uncertainty":
        measured = result.ordered - result.unmeasured
        typer.echo(
            f"{counted(result.ordered, 'item')} not yet started ranked: {measured} by "
            f"uncertainty, {result.unmeasured} without one (after them, in session order)"
        )


def review_assign(
    fraction: Annotated[
        float | None, typer.Option(help="Review this fraction of the sessions (0..1].")
    ] = None,
    sessions: Annotated[
        int | None, typer.Option(help="Review this many sessions (instead of --fraction).")
    ] = None,
    overlap: Annotated[
        int, typer.Option(help="Reviewers per rationale on the overlap subset (agreement).")
    ] = 1,
    overlap_fraction: Annotated[
        float, typer.Option(help="Share of the sampled sessions reviewed by --overlap reviewers.")
    ] = 0.25,
    reviewers: Annotated[
        str | None, typer.Option(help="Comma-separated reviewers (default: every author).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the sample.")] = 0,
    by: Annotated[
        str,
        typer.Option(
            help="How the sessions are chosen: 'random', or 'judge': the sessions whose "
            "weakest rationale is weakest by the rubric judge (failing, then lowest score) "
            "first, whole sessions so a reviewer reads each transcript once; sessions with "
            "no judged rationale follow at random. --fraction/--sessions keep their meaning; "
            "predictions are sampled at random."
        ),
    ] = "random",
    include_predictions: Annotated[
        list[str] | None,
        typer.Option(
            help="Also put this model's imported predictions (import --kind predictions "
            "--source NAME) into the blind queues, sampled the same way; repeatable."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Assign blind cross-reviews of accepted rationales; nobody reviews their own work."""
    from annotate.work.assignment import assign_reviews, check_review_choice
    from annotate.work.reviews.predictions import assign_prediction_reviews

    if fraction is None and sessions is None:
        fraction = 0.2
    check_review_choice(by)  # before any prediction is assigned
    names = reviewers.split(",") if reviewers else None
    store = engine()
    model_results = [
        assign_prediction_reviews(
            store,
            source,
            fraction=fraction,
            sessions=sessions,
            overlap=overlap,
            overlap_fraction=overlap_fraction,
            reviewers=names,
            seed=seed,
        )
        for source in include_predictions or []
    ]
    result = assign_reviews(
        store,
        fraction=fraction,
        sessions=sessions,
        overlap=overlap,
        overlap_fraction=overlap_fraction,
        reviewers=names,
        seed=seed,
        by=by,
    )
    if as_json:
        print_json(
            {
                "sessions": result.sessions,
                "overlap_sessions": result.overlap_sessions,
                "assigned": result.assigned,
                "short_of_reviewers": result.short_of_reviewers,
                "by": by,
                "by_judge": result.by_judge,
                "unjudged": result.unjudged,
                "predictions": {
                    model.source: {
                        "sessions": model.sessions,
                        "overlap_sessions": model.overlap_sessions,
                        "assigned": model.assigned,
                    }
                    for model in model_results
                },
            }
        )
        return
    typer.echo(
        f"{counted(len(result.sessions), 'session')} sampled, "
        f"{len(result.overlap_sessions)} with overlap"
    )
    if by == "judge":
        typer.echo(
            f"{counted(result.by_judge, 'session')} chosen weakest by judge first, "
            f"{result.unjudged} with no judged rationale (at random after them)"
        )
    for name, count in result.assigned.items():
        typer.echo(f"{name}: {counted(count, 'review')}")
    if result.short_of_reviewers:
        short = counted(result.short_of_reviewers, "rationale")
        typer.echo(f"{short} {'has' if result.short_of_reviewers == 1 else 'have'} fewer "
                   "reviewers than --overlap")  # fmt: skip
    for model in model_results:
        given = ", ".join(f"{name} {count}" for name, count in model.assigned.items())
        typer.echo(
            f"predictions of {model.source}: {counted(len(model.sessions), 'session')} sampled, "
            f"{len(model.overlap_sessions)} with overlap; {given}"
        )


def register(app: typer.Typer) -> None:
    app.command("assign")(assign)
    app.command("review-assign")(review_assign)
