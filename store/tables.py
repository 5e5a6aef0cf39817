"""Typed Core handles of every table, and the joins that define shared facts.

The one way to reach a table from a query: ``from store.tables import RATIONALES``.
The ORM classes in :mod:`store.models` stay for reading and writing whole rows; these
are the same tables as SQLAlchemy ``Table`` objects, typed, so that ``RATIONALES.c.id``
is checked by mypy without an ignore. Shared facts that several rooms read (the current
text of a rationale, the current codes of a coding) are joined here once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, and_
from sqlalchemy.sql import FromClause

from store import models


def table_of(model: Any) -> Table:
    """MODEL's Core table (SQLModel does not type ``__table__``)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


INSTRUMENTS = table_of(models.Instrument)
ITEMS = table_of(models.Item)
CLIENTS = table_of(models.Client)
COUNSELORS = table_of(models.Counselor)
SESSIONS = table_of(models.TherapySession)
TURNS = table_of(models.Turn)
RATINGS = table_of(models.Rating)
ANNOTATORS = table_of(models.Annotator)
DRAFTS = table_of(models.Draft)
DRAFT_BATCHES = table_of(models.DraftBatch)
ENDPOINT_FORMATS = table_of(models.EndpointFormat)
RATIONALES = table_of(models.Rationale)
RATIONALE_VERSIONS = table_of(models.RationaleVersion)
AUTOSAVES = table_of(models.Autosave)
PREDICTIONS = table_of(models.Prediction)
REVIEW_ASSIGNMENTS = table_of(models.ReviewAssignment)
REVIEWS = table_of(models.Review)
PREDICTION_REVIEWS = table_of(models.PredictionReview)
REVIEW_SCORES = table_of(models.ReviewScore)
PREDICTION_REVIEW_SCORES = table_of(models.PredictionReviewScore)
RUBRICS = table_of(models.StoredRubric)
MARKER_SCHEMES = table_of(models.MarkerScheme)
CODINGS = table_of(models.Coding)
CODING_VERSIONS = table_of(models.CodingVersion)
CODING_REVIEWS = table_of(models.CodingReview)
MARKER_DRAFTS = table_of(models.MarkerDraft)
MARKER_SUGGESTIONS = table_of(models.MarkerSuggestion)
SUGGESTION_DECISIONS = table_of(models.SuggestionDecision)
IMPORTS = table_of(models.ImportRecord)
DEID_CLIENTS = table_of(models.DeidClient)
DEID_SURROGATES = table_of(models.DeidSurrogate)
DEID_ROSTER = table_of(models.DeidRosterEntry)
DEID_CORRECTIONS = table_of(models.DeidCorrection)
TURN_ALLIANCE = table_of(models.TurnAlliance)
JUDGEMENTS = table_of(models.Judgement)
JUDGEMENT_SCORES = table_of(models.JudgementScore)
DRAFT_SAMPLES = table_of(models.DraftSample)


def is_current_text(version: FromClause = RATIONALE_VERSIONS) -> ColumnElement[bool]:
    """ON clause: VERSION (the versions table or an alias of it) is its rationale's text.

    ``rationales.current_version`` names the one version that is a rationale's text; an
    index seek on the unique (rationale_id, version) key.
    """
    return and_(
        version.c.rationale_id == RATIONALES.c.id,
        version.c.version == RATIONALES.c.current_version,
    )


def is_current_codes(version: FromClause = CODING_VERSIONS) -> ColumnElement[bool]:
    """ON clause: VERSION is the coding version its ``codings.current_version`` names."""
    return and_(
        version.c.coding_id == CODINGS.c.id,
        version.c.version == CODINGS.c.current_version,
    )


# A coding with its current version: the one definition of a coding's codes.
CURRENT_CODES = CODINGS.outerjoin(CODING_VERSIONS, is_current_codes())
