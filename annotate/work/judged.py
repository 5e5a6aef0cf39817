"""Reading the rubric judge's stored scores: the judgement that counts for each text.

A judgement (``annotate judge``) scores one text: the current version of a rationale, or
an imported prediction. The one that counts for a target is the newest with status ok
(grounded) for the target's *current* text: the same ``rationale_version`` as
``rationales.current_version``, or for a prediction the same ``text_hash`` as its text
now. Ungrounded and failed judgements, and those of an older text, are never counted.

Judgements are for leads (progress, the report, ``review-assign --by judge``): nothing
a reviewer sees may read this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from annotate.core import workflow
from annotate.core.vocabulary import current_rubric
from store.db import reader
from store.tables import (
    JUDGEMENT_SCORES,
    JUDGEMENTS,
    PREDICTIONS,
    RATIONALES,
    REVIEW_ASSIGNMENTS,
)

JUDGEMENT_OK = workflow.DRAFT_OK  # grounded: the only status that counts
WEAKEST_SHOWN = 5


def text_hash(text: str) -> str:
    """The SHA-256 (hex) of a judged text's UTF-8 bytes, as ``judgements.text_hash``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CurrentJudgement:
    """The judgement that counts for one text, with its scores (criterion -> score)."""

    judgement_id: int
    rationale_id: int | None
    rationale_version: int | None
    prediction_id: int | None
    session_id: str
    item_id: str
    author: str | None  # the rationale's author, or the prediction's source
    scores: dict[str, int]
    passed: bool | None
    reason: str | None
    model: str
    created_at: datetime

    @property
    def min_score(self) -> int | None:
        return min(self.scores.values()) if self.scores else None

    @property
    def mean_score(self) -> float | None:
        return sum(self.scores.values()) / len(self.scores) if self.scores else None


@dataclass
class Judged:
    """Counted judgements by rationale id and by prediction id."""

    rationales: dict[int, CurrentJudgement] = field(default_factory=dict)
    predictions: dict[int, CurrentJudgement] = field(default_factory=dict)


def _connection(source: Session | Connection) -> Connection:
    return source.connection() if isinstance(source, Session) else source


def _chunks(ids: Sequence[int], size: int = 10_000) -> Iterable[Sequence[int]]:
    return (ids[i : i + size] for i in range(0, len(ids), size))


def _scores(connection: Connection, judgement_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {jid: {} for jid in judgement_ids}
    score = JUDGEMENT_SCORES.c
    for part in _chunks(judgement_ids):
        query = select(score.judgement_id, score.criterion, score.score).where(
            score.judgement_id.in_(part)
        )
        for jid, criterion, value in connection.execute(query):
            found[jid][criterion] = int(value)
    return found


def _fetch(
    connection: Connection, query: Select[Any], key: ColumnElement[Any], ids: Iterable[int] | None
) -> list[Any]:
    """QUERY's rows, only those whose KEY is among IDS unless None (in chunks)."""
    if ids is None:
        return list(connection.execute(query))
    wanted = sorted(set(ids))
    parts = (query.where(key.in_(part)) for part in _chunks(wanted))
    return [row for part in parts for row in connection.execute(part)]


_COLUMNS = (
    JUDGEMENTS.c.id,
    JUDGEMENTS.c.passed,
    JUDGEMENTS.c.reason,
    JUDGEMENTS.c.model,
    JUDGEMENTS.c.created_at,
)


def current_judgements(
    source: Session | Connection,
    *,
    rationale_ids: Iterable[int] | None = None,
    prediction_ids: Iterable[int] | None = None,
    rationales: bool = True,
    predictions: bool = True,
    model: str | None = None,
) -> Judged:
    """The judgement that counts for each rationale (its current version) and prediction
    (its current text), among the ids given (all for None), by ``model`` if named, on the
    store's current rubric (a judgement on another rubric version is outdated: its scale,
    criteria and threshold may differ).

    Targets without one are absent. Scores are ordered as the store's rubric lists its
    criteria (a criterion it lacks follows, by name).
    """
    connection = _connection(source)
    judged = Judged()
    rows: list[tuple[str, Any]] = []
    j, r, p = JUDGEMENTS.c, RATIONALES.c, PREDICTIONS.c
    rubric = current_rubric(connection)
    base = and_(j.status == JUDGEMENT_OK, j.rubric_version == rubric.version)
    if model is not None:
        base = and_(base, j.model == model)
    if rationales:
        query = (
            select(
                *_COLUMNS, j.rationale_id, j.rationale_version, r.session_id, r.item_id, r.author_id
            )  # fmt: skip
            .join(
                RATIONALES, and_(r.id == j.rationale_id, r.current_version == j.rationale_version)
            )  # fmt: skip
            .where(base)
        )
        rows += [("r", row) for row in _fetch(connection, query, j.rationale_id, rationale_ids)]
    if predictions:
        query = (
            select(
                *_COLUMNS, j.prediction_id, j.text_hash, p.session_id, p.item_id, p.source, p.text
            )  # fmt: skip
            .join(PREDICTIONS, p.id == j.prediction_id)
            .where(base)
        )
        rows += [("p", row) for row in _fetch(connection, query, j.prediction_id, prediction_ids)]
    newest: dict[tuple[str, int], Any] = {}
    for kind, row in rows:
        if kind == "p" and row[6] != text_hash(row[10]):
            continue  # judged an earlier text of the prediction
        key = (kind, row[5])
        held = newest.get(key)
        if held is None or (row[4], row[0]) > (held[1][4], held[1][0]):
            newest[key] = (kind, row)
    scores = _scores(connection, sorted(row[0] for _, row in newest.values()))
    order = {name: index for index, name in enumerate(rubric.names)}
    for (kind, target), (_, row) in newest.items():
        given = scores.get(row[0], {})
        ordered = dict(sorted(given.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
        made = CurrentJudgement(
            judgement_id=row[0],
            rationale_id=target if kind == "r" else None,
            rationale_version=row[6] if kind == "r" else None,
            prediction_id=target if kind == "p" else None,
            session_id=row[7],
            item_id=row[8],
            author=row[9],
            scores=ordered,
            passed=row[1],
            reason=row[2],
            model=row[3],
            created_at=row[4],
        )
        (judged.rationales if kind == "r" else judged.predictions)[target] = made
    return judged


def weakness_key(judgement: CurrentJudgement) -> tuple[int, float, float, int]:
    """Sort key, weakest first: failing before passing, then the lowest minimum score,
    the lowest mean score, then the target's id."""
    low = judgement.min_score
    mean = judgement.mean_score
    target = judgement.rationale_id or judgement.prediction_id or 0
    return (
        0 if judgement.passed is False else 1,
        float("inf") if low is None else low,
        float("inf") if mean is None else mean,
        target,
    )


def weakest_first(
    source: Session | Connection, rationale_ids: list[int], model: str | None = None
) -> list[int]:
    """RATIONALE_IDS ordered weakest by the judge first (:func:`weakness_key`); those
    without a counted judgement follow, in the order given. One judge's scores are
    compared: MODEL's, by default the model leads are shown (:func:`counted_by_model`)."""
    if model is None:
        model = next(iter(counted_by_model(_connection(source))), "")
    judged = current_judgements(source, rationale_ids=rationale_ids, predictions=False,
                                model=model)  # fmt: skip
    ranked = sorted(
        (judged.rationales[rid] for rid in set(rationale_ids) if rid in judged.rationales),
        key=weakness_key,
    )
    seen = {j.rationale_id for j in ranked}
    rest = [rid for rid in rationale_ids if rid not in seen]
    return [j.rationale_id for j in ranked if j.rationale_id is not None] + rest


def counted_by_model(source: Engine | Connection) -> dict[str, int]:
    """How many texts each judge model has a counted judgement of, most first (then by
    name): the first is the model leads are shown by default."""
    if isinstance(source, Engine):
        with reader(source).connect() as connection:
            return counted_by_model(connection)
    names = source.execute(
        select(JUDGEMENTS.c.model).where(JUDGEMENTS.c.status == JUDGEMENT_OK).distinct()
    ).scalars()
    counts = {}
    for name in names:
        judged = current_judgements(source, model=name)
        counts[name] = len(judged.rationales) + len(judged.predictions)
    ranked = sorted((-n, name) for name, n in counts.items() if n)
    return {name: -negative for negative, name in ranked}


@dataclass(frozen=True)
class WeakJudged:
    """One of the weakest texts by the judge, for a lead."""

    rationale_id: int
    session_id: str
    item_id: str
    author: str | None
    scores: dict[str, int]
    min_score: int | None
    passed: bool | None
    reason: str | None


@dataclass
class JudgeSummary:
    """The judge's coverage of accepted rationales and what it found (``progress``)."""

    accepted: int = 0
    judged: int = 0  # accepted, with a counted judgement of the current version
    judged_older: int = 0  # accepted, judged only on an earlier version
    not_judged: int = 0  # accepted, no counted judgement of the current version
    failing: int = 0  # judged and failed by the judge
    predictions: int = 0
    predictions_judged: int = 0
    criteria: list[str] = field(default_factory=list)
    means: dict[str, float | None] = field(default_factory=dict)
    model: str | None = None  # the judge shown: the one with most counted judgements
    models: dict[str, int] = field(default_factory=dict)  # model -> counted judgements
    weakest: list[WeakJudged] = field(default_factory=list)
    stored: int = 0  # judgements stored, any status

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def judge_summary(engine: Engine, weakest: int = WEAKEST_SHOWN) -> JudgeSummary:
    """Coverage of the accepted rationales by the judge (the model with most counted
    judgements, as ``agreement --judge`` by default), its failures, its mean per criterion
    and the WEAKEST weakest (:func:`weakness_key`). ``stored`` 0: none judged."""
    summary = JudgeSummary()
    r, j = RATIONALES.c, JUDGEMENTS.c
    with reader(engine).connect() as connection:
        summary.stored = int(connection.execute(select(func.count()).select_from(JUDGEMENTS))
                             .scalar_one())  # fmt: skip
        summary.criteria = list(current_rubric(connection).names)
        if not summary.stored:
            return summary
        accepted = dict(
            connection.execute(
                select(r.id, r.current_version)
                .where(r.status == workflow.ACCEPTED)
                .where(r.current_version.is_not(None))
            ).all()
        )
        summary.models = counted_by_model(connection)
        summary.model = next(iter(summary.models), None)
        judged = current_judgements(connection, model=summary.model or "")
        by_model = j.model == summary.model if summary.model else j.model.is_not(None)
        ever = set(
            connection.execute(
                select(j.rationale_id).where(j.status == JUDGEMENT_OK, by_model)
                .where(j.rationale_id.is_not(None)).distinct()
            ).scalars()
        )  # fmt: skip
        count = select(func.count()).select_from(PREDICTIONS)
        summary.predictions = int(connection.execute(count).scalar_one())
    summary.predictions_judged = len(judged.predictions)
    counted = [judged.rationales[rid] for rid in accepted if rid in judged.rationales]
    summary.accepted = len(accepted)
    summary.judged = len(counted)
    summary.not_judged = summary.accepted - summary.judged
    summary.judged_older = len((set(accepted) - set(judged.rationales)) & ever)
    summary.failing = sum(1 for one in counted if one.passed is False)
    for name in summary.criteria:
        values = [one.scores[name] for one in counted if name in one.scores]
        summary.means[name] = round(sum(values) / len(values), 2) if values else None
    for one in sorted(counted, key=weakness_key)[:weakest]:
        assert one.rationale_id is not None
        summary.weakest.append(
            WeakJudged(
                one.rationale_id,
                one.session_id,
                one.item_id,
                one.author,
                one.scores,
                one.min_score,
                one.passed,
                one.reason,
            )  # fmt: skip
        )
    return summary


def sees_judged_texts(engine: Engine, annotator: str) -> bool:
    """Whether ANNOTATOR may see the judge's scores of single texts on a screen: only one
    who neither authors a rationale nor has a review assigned (a lead); an expert who
    reviews must not, since review is blind, and authors do not see them either."""
    with reader(engine).connect() as connection:
        authors = connection.execute(
            select(RATIONALES.c.id).where(RATIONALES.c.author_id == annotator).limit(1)
        ).first()
        reviews = connection.execute(
            select(REVIEW_ASSIGNMENTS.c.id)
            .where(REVIEW_ASSIGNMENTS.c.reviewer_id == annotator)
            .limit(1)
        ).first()
    return authors is None and reviews is None
