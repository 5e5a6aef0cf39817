"""Hand out the work: authoring among experts, and blind cross-reviews among them.

Both are deterministic for a given seed, balanced by counts, and add to what is
already assigned rather than reshuffling it.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select, true, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from annotate.core import workflow
from annotate.core.errors import ConfigError
from annotate.core.instruments import explained_items
from annotate.work.judged import counted_by_model, current_judgements, weakness_key
from annotate.work.rationales.samples import current_uncertainty
from annotate.work.rationales.versions import ensure_annotator
from store.db import code_point_order, session_scope
from store.models import (
    Annotator,
    Item,
    Rating,
    Rationale,
    Review,
    ReviewAssignment,
    TherapySession,
)
from store.tables import RATIONALES

GROUPINGS = ("client", "session")
ORDERS = ("session", "uncertainty")
REVIEW_CHOICES = ("random", "judge")


@dataclass
class AuthoringResult:
    """Per annotator, how many new rationales they received and how many they now author."""

    created: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    ordered: int = 0  # not-yet-started rationales given a queue_rank (--order uncertainty)
    unmeasured: int = 0  # of those, the ones whose item has no uncertainty (ranked last)


@dataclass
class ReviewResult:
    sessions: list[str] = field(default_factory=list)
    overlap_sessions: list[str] = field(default_factory=list)
    assigned: dict[str, int] = field(default_factory=dict)
    short_of_reviewers: int = 0  # rationales with fewer eligible reviewers than asked for
    by_judge: int = 0  # sampled sessions chosen for their weakest judged rationale (--by judge)
    unjudged: int = 0  # sampled sessions with no judged rationale (--by judge), at random


def _names(annotators: list[str]) -> list[str]:
    names = [name.strip() for name in annotators if name.strip()]
    if not names:
        raise ConfigError("name at least one annotator")
    if len(set(names)) != len(names):
        raise ConfigError("annotator names must be distinct")
    return names


def assign_authoring(
    engine: Engine,
    annotators: list[str],
    *,
    by: str = "client",
    seed: int = 0,
    sessions: list[str] | None = None,
    order: str = "session",
) -> AuthoringResult:
    """Create a pending rationale with an author for every rated (session, item) without one
    (of the SESSIONS named, or of every session), then set the order of each named
    author's queue (:func:`order_queues`).

    Work is split in groups (all sessions of a client, or single sessions), each group
    to the annotator with the fewest rationales so far; a client who already has an
    author among ``annotators`` stays with them.
    """
    names = _names(annotators)
    if by not in GROUPINGS:
        raise ConfigError(f"--by must be one of {', '.join(GROUPINGS)}")
    if order not in ORDERS:
        raise ConfigError(f"--order must be one of {', '.join(ORDERS)}")
    rng = random.Random(seed)
    with session_scope(engine) as session:
        for name in names:
            ensure_annotator(session, name)
        units = session.execute(
            select(col(Rating.session_id), col(Rating.item_id), col(TherapySession.client_id))
            .join(TherapySession, col(TherapySession.id) == col(Rating.session_id))
            .where(col(Rating.rater_role) == "client")
            .where(col(Rating.item_id).in_(explained_items()))
            .where(col(Rating.session_id).in_(sessions) if sessions is not None else true())
            .order_by(col(Rating.session_id), col(Rating.item_id))
        ).all()
        existing = session.execute(
            select(
                col(Rationale.session_id),
                col(Rationale.item_id),
                col(Rationale.author_id),
                col(TherapySession.client_id),
            ).join(TherapySession, col(TherapySession.id) == col(Rationale.session_id))
        ).all()
        covered = {(sid, iid) for sid, iid, _, _ in existing}
        load = dict.fromkeys(names, 0)
        owner: dict[str, str] = {}
        for _, _, author, client in existing:
            if author in load:
                load[author] += 1
                owner.setdefault(client, author)
        groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for sid, iid, client in units:
            if (sid, iid) not in covered:
                groups[client if by == "client" else sid].append((sid, iid))
        keys = sorted(groups)
        rng.shuffle(keys)
        keys.sort(key=lambda key: -len(groups[key]))  # largest first; stable keeps the shuffle
        tie_order = names[:]
        rng.shuffle(tie_order)  # who wins ties
        result = AuthoringResult(created=dict.fromkeys(names, 0))
        for key in keys:
            author = owner.get(key) if by == "client" else None
            if author is None:
                author = min(tie_order, key=lambda name: load[name])
            for sid, iid in groups[key]:
                session.add(Rationale(session_id=sid, item_id=iid, author_id=author))
            load[author] += len(groups[key])
            result.created[author] += len(groups[key])
        result.total = load
        session.flush()
        result.ordered, result.unmeasured = order_queues(session, names, order)
    return result


def order_queues(session: Session, authors: list[str], order: str) -> tuple[int, int]:
    """Set the queue order of AUTHORS' work; returns (ranked, of them without uncertainty).

    ``session``: every rank is cleared (session and item order). ``uncertainty``: each
    author's not-yet-started rationales (pending, no saved version) get queue_rank 1..n,
    the most uncertain item (its current draft sample) first, the unmeasured ones after
    them; ties and the unmeasured keep session and item order. Their other rationales
    have no rank, so the queue shows them after the ranked ones.
    """
    session.execute(
        update(RATIONALES).where(RATIONALES.c.author_id.in_(authors)).values(queue_rank=None)
    )
    if order != "uncertainty":
        return 0, 0
    rows = session.execute(
        select(
            col(Rationale.id), col(Rationale.author_id), col(Rationale.session_id),
            col(Rationale.item_id),
        )
        .join(Item, col(Item.id) == col(Rationale.item_id))
        .where(col(Rationale.author_id).in_(authors))
        .where(col(Rationale.status) == workflow.PENDING)
        .where(col(Rationale.current_version).is_(None))
        .order_by(
            col(Rationale.author_id),
            code_point_order(col(Rationale.session_id), session.get_bind().dialect),
            col(Item.position),
        )
    ).all()  # fmt: skip
    uncertainty = current_uncertainty(session, {row[2] for row in rows})
    ranks: list[dict[str, int]] = []
    unmeasured = 0
    for author in authors:
        own = [row for row in rows if row[1] == author]
        # sorted() is stable: equal uncertainty, and every unmeasured item, keep queue order.
        own.sort(key=lambda row: -uncertainty.get((row[2], row[3]), -math.inf))
        unmeasured += sum((row[2], row[3]) not in uncertainty for row in own)
        ranks += [{"rid": row[0], "rank": rank} for rank, row in enumerate(own, start=1)]
    if ranks:
        session.execute(
            update(RATIONALES)
            .where(RATIONALES.c.id == bindparam("rid"))
            .values(queue_rank=bindparam("rank")),
            ranks,
        )
    return len(ranks), unmeasured


def check_sample(
    fraction: float | None, sessions: int | None, overlap: int, overlap_fraction: float
) -> None:
    """Refuse a review sample that cannot be drawn (one line each)."""
    if (fraction is None) == (sessions is None):
        raise ConfigError("give exactly one of --fraction and --sessions")
    if fraction is not None and not 0 < fraction <= 1:
        raise ConfigError("--fraction must be in (0, 1]")
    if sessions is not None and sessions < 1:
        raise ConfigError("--sessions must be at least 1")
    if overlap < 1:
        raise ConfigError("--overlap must be at least 1")
    if not 0 <= overlap_fraction <= 1:
        raise ConfigError("--overlap-fraction must be in [0, 1]")


def check_review_choice(by: str) -> None:
    """Refuse an unknown way of choosing the sessions to review (one line)."""
    if by not in REVIEW_CHOICES:
        raise ConfigError(f"--by must be one of {', '.join(REVIEW_CHOICES)}")


def sample_sessions(
    rng: random.Random,
    candidates: list[str],
    fraction: float | None,
    sessions: int | None,
    overlap: int,
    overlap_fraction: float,
    first: Sequence[str] = (),
) -> tuple[list[str], set[str]]:
    """The sampled sessions (sorted) and the overlap subset among them: the sessions of
    FIRST in its order, then the other candidates at random."""
    shuffled = sorted(candidates)
    rng.shuffle(shuffled)
    if first:
        taken = set(first)
        shuffled = [*first, *(sid for sid in shuffled if sid not in taken)]
    size = sessions if sessions is not None else max(1, round(fraction * len(shuffled)))  # type: ignore[operator]
    sample = sorted(shuffled[:size])
    overlap_count = math.ceil(overlap_fraction * len(sample)) if overlap > 1 else 0
    return sample, set(rng.sample(sample, min(overlap_count, len(sample))))


def assign_reviews(
    engine: Engine,
    *,
    fraction: float | None = None,
    sessions: int | None = None,
    overlap: int = 1,
    overlap_fraction: float = 0.25,
    reviewers: list[str] | None = None,
    seed: int = 0,
    by: str = "random",
) -> ReviewResult:
    """Give each accepted rationale of a sample of sessions to reviewers other than its author.

    Nobody is given a rationale they wrote or already reviewed.

    The sample is ``sessions`` sessions or a ``fraction`` of the sessions with authored
    work not yet under review, at random, or with ``by="judge"`` weakest by the rubric
    judge first (:func:`judged_sessions_first`). On an overlap subset (``overlap_fraction``
    of the sample) each rationale gets ``overlap`` reviewers, so agreement can be
    measured. Reviewers are the given names, else every annotator; each rationale goes to
    the least-loaded eligible reviewers.
    """
    check_sample(fraction, sessions, overlap, overlap_fraction)
    check_review_choice(by)
    rng = random.Random(seed)
    with session_scope(engine) as session:
        rationales = session.execute(
            select(col(Rationale.id), col(Rationale.session_id), col(Rationale.author_id))
            .where(col(Rationale.author_id).is_not(None))
            .where(col(Rationale.status) == workflow.ACCEPTED)
            .order_by(col(Rationale.session_id), col(Rationale.id))
        ).all()
        assigned = session.execute(
            select(col(ReviewAssignment.rationale_id), col(ReviewAssignment.reviewer_id))
        ).all()
        everyone = sorted(session.execute(select(col(Annotator.id))).scalars())
        pool = _names(reviewers) if reviewers else everyone
        for name in pool:
            ensure_annotator(session, name)
        already_reviewed = set(
            session.execute(select(col(Review.rationale_id), col(Review.reviewer_id))).all()
        )
        under_review = {rid for rid, _ in assigned}
        load: dict[str, int] = dict.fromkeys(pool, 0)
        for _, reviewer in assigned:
            if reviewer in load:
                load[reviewer] += 1
        by_session: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for rid, sid, author in rationales:
            if rid not in under_review:
                by_session[sid].append((rid, author))
        first = judged_sessions_first(session, by_session) if by == "judge" else []
        sample, overlapping = sample_sessions(
            rng, list(by_session), fraction, sessions, overlap, overlap_fraction, first
        )
        order = pool[:]
        rng.shuffle(order)
        result = ReviewResult(
            sessions=sample, overlap_sessions=sorted(overlapping), assigned=dict.fromkeys(pool, 0)
        )
        if by == "judge":
            result.by_judge = len(set(sample) & set(first))
            result.unjudged = len(sample) - result.by_judge
        for sid in sample:
            wanted = overlap if sid in overlapping else 1
            for rid, author in by_session[sid]:
                eligible = sorted(
                    (n for n in order if n != author and (rid, n) not in already_reviewed),
                    key=lambda n: load[n],
                )
                if len(eligible) < wanted:
                    result.short_of_reviewers += 1
                for reviewer in eligible[:wanted]:
                    session.add(
                        ReviewAssignment(
                            rationale_id=rid, reviewer_id=reviewer, status=workflow.REVIEW_PENDING
                        )
                    )
                    load[reviewer] += 1
                    result.assigned[reviewer] += 1
    return result


def judged_sessions_first(
    session: Session, by_session: Mapping[str, list[tuple[int, str]]]
) -> list[str]:
    """The sessions of BY_SESSION holding a judged rationale, the one whose weakest
    rationale is weakest by the judge first (``judged.weakness_key``, the order of
    ``judged.weakest_first``; one model's scores: the one leads are shown); sessions are
    the unit so that a reviewer reads each transcript once for all its items."""
    ids = [rid for rows in by_session.values() for rid, _ in rows]
    model = next(iter(counted_by_model(session.connection())), "")  # the judge leads see
    judged = current_judgements(session, rationale_ids=ids, predictions=False, model=model)
    session_of = {rid: sid for sid, rows in by_session.items() for rid, _ in rows}
    ordered = sorted(judged.rationales.values(), key=weakness_key)
    return list(dict.fromkeys(session_of[j.rationale_id] for j in ordered if j.rationale_id))
