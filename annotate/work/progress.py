"""How far the work has come: counts of everything in the store.

Written with lightweight table references rather than the SQLModel classes so that
``annotate progress`` starts quickly (it is what scripts poll).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import case, column, func, select, table
from sqlalchemy.engine import Engine
from sqlalchemy.sql.expression import ColumnClause

from annotate.core import workflow
from annotate.core.instruments import explained_items
from annotate.core.plurals import counted
from annotate.core.vocabulary import current_rubric, read_scores
from store.db import reader

COUNTED = {
    "sessions": ("sessions", None),
    "clients": ("clients", None),
    "counselors": ("counselors", None),
    "turns": ("turns", None),
    "instrument_items": ("items", None),
    "items": ("ratings", "client"),
    "ratings": ("ratings", None),
    "client_ratings": ("ratings", "client"),
    "counselor_ratings": ("ratings", "counselor"),
    "drafts": ("drafts", None),
    "rationales": ("rationales", None),
    "rationale_versions": ("rationale_versions", None),
    "reviews": ("reviews", None),
    "annotators": ("annotators", None),
    "codings": ("codings", None),
}


def counts(engine: Engine) -> dict[str, int]:
    """The store's totals; ``items`` counts (session, item) units of rationale work: a
    client rating of an item whose instrument asks for rationales."""
    figures: dict[str, int] = {}
    with reader(engine).connect() as connection:
        for key, (table_name, rater_role) in COUNTED.items():
            role: ColumnClause[str] = column("rater_role")
            item: ColumnClause[str] = column("item_id")
            query = select(func.count()).select_from(table(table_name, role, item))
            if rater_role is not None:  # the units of rationale work
                query = query.where(role == rater_role).where(item.in_(explained_items()))
            figures[key] = int(connection.execute(query).scalar_one())
    return figures


# The authoring stages counted per annotator and per dimension, with their column labels
# (``annotate progress`` and the Progress screen): ``accepted`` counts the status, so it
# takes the status's label; ``awaiting_revision`` counts rationales whose status is
# still revision_requested, ``sent_back`` those a review ever sent back.
STAGE_LABELS = {
    "assigned": "assigned",
    "drafted": "drafted",
    "edited": "edited",
    "accepted": workflow.ACCEPTED.label,
    "reviewed": "reviewed",
    "sent_back": "sent back",
    "awaiting_revision": "to revise",
    "flagged": "flagged",
}
STAGES = tuple(STAGE_LABELS)
# Columns of the coding table besides the statuses, with their labels.
CODING_ROLE_LABELS = {"primary": "primary", "second": "second"}


def _blank() -> dict[str, Any]:
    return {key: 0 for key in ("items", *STAGES, "reviews", "reviews_given", "reviews_pending")}


def _means(sums: dict[str, list[int]]) -> dict[str, float | None]:
    return {
        name: round(sum(values) / len(values), 2) if values else None
        for name, values in sums.items()
    }


def detail(engine: Engine) -> dict[str, dict[str, dict[str, Any]]]:
    """Per annotator (as author and reviewer) and per dimension: work stages and review means.

    Stages count rationales: ``assigned`` (has an author), ``drafted`` (its item has a
    usable draft), ``edited`` (has a current text), ``accepted``, ``reviewed`` (its
    current version has a review), ``sent_back`` (at least one failing review) and
    ``awaiting_revision`` (sent back and not yet accepted again) and ``flagged`` (an
    expert flagged it with a note for the project lead). ``items`` (per
    dimension) counts the (session, item) units with a client rating. A reviewer's
    ``reviews_given`` and ``reviews_pending`` count models' predictions (reviewed blind
    beside expert work) too; the stages and score means are the experts' rationales only.
    """
    items = table("items", column("id"), column("dimension"))
    ratings = table("ratings", column("session_id"), column("item_id"), column("rater_role"))
    drafts = table("drafts", column("session_id"), column("item_id"), column("status"))
    rationales = table(
        "rationales",
        column("id"),
        column("session_id"),
        column("item_id"),
        column("author_id"),
        column("status"),
        column("current_version"),
        column("flagged"),
    )
    reviews = table(
        "reviews",
        column("id"),
        column("rationale_id"),
        column("rationale_version"),
        column("reviewer_id"),
        column("passed"),
    )
    assignments = table("review_assignments", column("reviewer_id"), column("status"))
    with reader(engine).connect() as connection:
        dimension_of = dict(
            connection.execute(
                select(items.c.id, items.c.dimension).where(items.c.id.in_(explained_items()))
            ).all()
        )
        units = connection.execute(
            select(ratings.c.item_id, func.count())
            .where(ratings.c.rater_role == "client")
            .where(ratings.c.item_id.in_(explained_items()))
            .group_by(ratings.c.item_id)
        ).all()
        drafted = set(
            connection.execute(
                select(drafts.c.session_id, drafts.c.item_id)
                .where(drafts.c.status != "failed")
                .distinct()
            ).all()
        )
        rows = connection.execute(
            select(
                rationales.c.id,
                rationales.c.session_id,
                rationales.c.item_id,
                rationales.c.author_id,
                rationales.c.status,
                rationales.c.current_version,
                rationales.c.flagged,
            )
        ).all()
        review_rows = connection.execute(
            select(
                reviews.c.rationale_id,
                reviews.c.reviewer_id,
                reviews.c.passed,
                reviews.c.rationale_version,
                reviews.c.id,
            )
        ).all()
        criteria = current_rubric(connection).names
        score_of = read_scores(connection, None)
        pending = connection.execute(
            select(assignments.c.reviewer_id, func.count())
            .where(assignments.c.status == workflow.REVIEW_PENDING)
            .group_by(assignments.c.reviewer_id)
        ).all()
        model_reviews = table("prediction_reviews", column("reviewer_id"))
        given_to_models = connection.execute(
            select(model_reviews.c.reviewer_id, func.count()).group_by(model_reviews.c.reviewer_id)
        ).all()

    by_annotator: dict[str, dict[str, Any]] = defaultdict(_blank)
    by_dimension: dict[str, dict[str, Any]] = {
        d: _blank() for d in sorted(set(dimension_of.values()))
    }
    scores: dict[str, dict[str, dict[str, list[int]]]] = {
        "annotator": defaultdict(lambda: {name: [] for name in criteria}),
        "dimension": defaultdict(lambda: {name: [] for name in criteria}),
    }
    for item_id, count in units:
        by_dimension[dimension_of[item_id]]["items"] += count
    reviewed: dict[int, list[Any]] = defaultdict(list)
    for row in review_rows:
        reviewed[row[0]].append(row)
        by_annotator[row[1]]["reviews_given"] += 1
    for reviewer, count in pending:  # expert work and models' predictions alike
        by_annotator[reviewer]["reviews_pending"] = int(count)
    for reviewer, count in given_to_models:
        by_annotator[reviewer]["reviews_given"] += int(count)
    for rid, sid, iid, author, status, current_version, flagged in rows:
        targets = [by_dimension[dimension_of[iid]]]
        keys = [("dimension", dimension_of[iid])]
        if author is not None:
            targets.append(by_annotator[author])
            keys.append(("annotator", author))
        flags = {
            "assigned": author is not None,
            "drafted": (sid, iid) in drafted,
            "edited": current_version is not None,
            "accepted": status == workflow.ACCEPTED,
            "reviewed": any(row[3] == current_version for row in reviewed.get(rid, ())),
            "sent_back": any(not row[2] for row in reviewed.get(rid, ())),
            "awaiting_revision": status == workflow.REVISION_REQUESTED,
            "flagged": bool(flagged),
        }
        for target in targets:
            for stage, on in flags.items():
                target[stage] += int(on)
            target["reviews"] += len(reviewed.get(rid, ()))
        for kind, key in keys:
            for row in reviewed.get(rid, ()):
                given = score_of.get(row[4], {})
                for name in criteria:
                    if name in given:
                        scores[kind][key][name].append(int(given[name]))
    for name, figures in by_annotator.items():
        figures["score_means"] = _means(scores["annotator"][name])
        del figures["items"]
    for name, figures in by_dimension.items():
        figures["score_means"] = _means(scores["dimension"][name])
        del figures["reviews_given"], figures["reviews_pending"]
    return {
        "by_annotator": dict(sorted(by_annotator.items())),
        "by_dimension": by_dimension,
    }


CODING_STAGES: tuple[str, ...] = workflow.CODING_STATUSES


def coding_detail(engine: Engine) -> dict[str, dict[str, int]]:
    """Turn coding (3RS) per coder: codings by role and status, and reviews of codings
    given and still to do. Empty when nobody codes."""
    codings = table("codings", column("id"), column("coder_id"), column("role"),
                    column("status"))  # fmt: skip
    reviews = table("coding_reviews", column("reviewer_id"), column("passed"),
                    column("coding_id"))  # fmt: skip
    by_coder: dict[str, dict[str, int]] = defaultdict(
        lambda: {"primary": 0, "second": 0, **dict.fromkeys(CODING_STAGES, 0),
                 "reviews_given": 0, "reviews_pending": 0}
    )  # fmt: skip
    with reader(engine).connect() as connection:
        for coder, role, status, n in connection.execute(
            select(codings.c.coder_id, codings.c.role, codings.c.status, func.count()).group_by(
                codings.c.coder_id, codings.c.role, codings.c.status
            )
        ).all():
            row = by_coder[coder]
            row[role] = row.get(role, 0) + n
            row[status] = row.get(status, 0) + n
        for reviewer, passed, status, n in connection.execute(
            select(reviews.c.reviewer_id, reviews.c.passed, codings.c.status, func.count())
            .join(codings, codings.c.id == reviews.c.coding_id)
            .group_by(reviews.c.reviewer_id, reviews.c.passed, codings.c.status)
        ).all():
            row = by_coder[reviewer]
            if passed is not None:
                row["reviews_given"] += n
            elif status == workflow.SUBMITTED:
                row["reviews_pending"] += n
    return {name: by_coder[name] for name in sorted(by_coder)}


def agreement_progress(engine: Engine) -> dict[str, int]:
    """How near the experts' reviews are to Krippendorff's alpha.

    Alpha (``annotate stats agreement``) pairs the reviews of one version of one rationale
    (a unit) and needs at least ``alpha_min_units`` units reviewed by two or more people.
    ``double_reviewed`` counts those units, ``needed_for_alpha`` how many more are needed
    (0 once alpha is computed). ``overlap_units`` counts the rationales assigned to two or
    more reviewers (``review-assign --overlap``), ``one_review_away`` those of them with
    exactly one review done (the next review makes a pair) and ``overlap_reviews_pending``
    the reviews still to do on them: the review queues serve these first.
    """

    reviews = table("reviews", column("rationale_id"), column("rationale_version"),
                    column("reviewer_id"))  # fmt: skip
    assignments = table("review_assignments", column("rationale_id"), column("status"))
    reviewers = func.count(func.distinct(reviews.c.reviewer_id))
    per_unit = (
        select(reviews.c.rationale_id)
        .group_by(reviews.c.rationale_id, reviews.c.rationale_version)
        .having(reviewers >= 2)
        .subquery()
    )
    done = func.sum(case((assignments.c.status == workflow.REVIEW_DONE, 1), else_=0))
    pending = func.sum(case((assignments.c.status == workflow.REVIEW_PENDING, 1), else_=0))
    with reader(engine).connect() as connection:
        double = int(connection.execute(select(func.count()).select_from(per_unit)).scalar_one())
        overlap = connection.execute(
            select(done, pending)
            .where(assignments.c.rationale_id.is_not(None))
            .group_by(assignments.c.rationale_id)
            .having(func.count() >= 2)
        ).all()
    return {
        "double_reviewed": double,
        "alpha_min_units": workflow.MIN_AGREEMENT_UNITS,
        "needed_for_alpha": max(0, workflow.MIN_AGREEMENT_UNITS - double),
        "overlap_units": len(overlap),
        "one_review_away": sum(1 for n_done, _ in overlap if n_done == 1),
        "overlap_reviews_pending": sum(int(n_pending or 0) for _, n_pending in overlap),
    }


def agreement_line(figures: dict[str, int]) -> str:
    """One line on the figures of :func:`agreement_progress`, for the CLI and the UI."""
    double, needed = figures["double_reviewed"], figures["needed_for_alpha"]
    head = f"Agreement: {counted(double, 'unit')} reviewed by two or more people"
    if needed == 0:
        head += " (enough for alpha)"
    else:
        head += f"; alpha needs {figures['alpha_min_units']}, {needed} more"
    overlap, pending = figures["overlap_units"], figures["overlap_reviews_pending"]
    if not overlap:
        if needed:
            return (
                f"{head}; no rationale has two reviewers: run 'annotate review-assign --overlap 2'"
            )
        return head
    return (
        f"{head}; {counted(pending, 'review')} to do on {counted(overlap, 'overlap unit')} "
        f"({figures['one_review_away']} one review away)"
    )


# --- the rubric judge, for leads -------------------------------------------------------


def judge_progress(engine: Engine) -> dict[str, Any] | None:
    """The judge's coverage of accepted rationales, failures, mean per criterion and the
    weakest by judge (:func:`annotate.work.judged.judge_summary`); None when no judgement
    is stored."""
    from annotate.work.judged import judge_summary

    summary = judge_summary(engine)
    return summary.as_json() if summary.stored else None


def judge_lines(figures: dict[str, Any]) -> list[str]:
    """Lines on :func:`judge_progress` for the CLI and the UI: coverage, failures, means."""
    accepted, judged = figures["accepted"], figures["judged"]
    model = figures["model"] or "none counted"
    head = f"Judge ({model}): {judged} of {counted(accepted, 'accepted rationale')} judged"
    if figures["judged_older"]:
        head += f" ({figures['judged_older']} only on an older version: rerun 'annotate judge')"
    elif figures["not_judged"]:
        head += f" ({figures['not_judged']} not yet: run 'annotate judge')"
    head += f"; the judge fails {figures['failing']}"
    if figures["predictions"]:
        head += f"; {figures['predictions_judged']} of "
        head += f"{counted(figures['predictions'], 'prediction')} judged"
    means = ", ".join(
        f"{name} {value:.2f}" for name, value in figures["means"].items() if value is not None
    )
    lines = [head]
    others = [f"{name} ({n})" for name, n in figures["models"].items() if name != model]
    if others:
        lines.append(f"Also judged by {', '.join(others)}: see 'annotate agreement --judge "
                     "--model NAME'")  # fmt: skip
    if means:
        lines.append(f"Judge's mean score: {means} (see 'annotate agreement --judge')")
    return lines


def weakest_rows(figures: dict[str, Any]) -> list[list[str]]:
    """The weakest by judge first: session, item, author, min score, reason, as cells."""
    return [
        [weak["session_id"], weak["item_id"], weak["author"] or "-",
         "-" if weak["min_score"] is None else str(weak["min_score"]), weak["reason"] or ""]
        for weak in figures["weakest"]
    ]  # fmt: skip


WEAKEST_HEADERS = ("session", "item", "author", "min", "reason")
