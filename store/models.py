"""SQLModel tables: the one place lasting data lives.

Nothing here is SQLite-only: the same models run on PostgreSQL. Every change to
these tables is an Alembic revision in ``store/migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, Column, Text, UniqueConstraint, true
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Timezone-aware now, stored as UTC."""
    return datetime.now(UTC)


class Instrument(SQLModel, table=True):
    """A rating instrument (WAI-SR by default) as loaded from ``guidelines/``."""

    __tablename__ = "instruments"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    version: str = Field(max_length=32)
    scale_min: int
    scale_max: int
    anchors: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    dimensions: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # False for instruments rated but not explained (the rupture question): no rationale
    # work is drafted, assigned or counted for their items.
    rationales: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=true())
    )
    loaded_at: datetime = Field(default_factory=utcnow)


class Item(SQLModel, table=True):
    """One instrument item, e.g. ``goal_1``; ids are unique across instruments."""

    __tablename__ = "items"
    id: str = Field(primary_key=True, max_length=64)
    instrument_id: str = Field(foreign_key="instruments.id", index=True, max_length=64)
    dimension: str = Field(max_length=64)
    position: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    # A binary item (e.g. the rupture question): a rating above this value is "yes".
    binary_above: int | None = None
    # The counselor form's wording of the item (None: the instrument has the client form
    # only); the alliance trace compares counselors' turns with it.
    counselor_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Client(SQLModel, table=True):
    __tablename__ = "clients"
    id: str = Field(primary_key=True, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class Counselor(SQLModel, table=True):
    __tablename__ = "counselors"
    id: str = Field(primary_key=True, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class TherapySession(SQLModel, table=True):
    """A counseling session with its transcript and ratings."""

    __tablename__ = "sessions"
    id: str = Field(primary_key=True, max_length=128)
    client_id: str = Field(foreign_key="clients.id", index=True, max_length=128)
    counselor_id: str = Field(foreign_key="counselors.id", index=True, max_length=128)
    session_number: int | None = None
    language: str | None = Field(default=None, max_length=16)
    content_hash: str = Field(max_length=64)
    # String keys and values (condition, modality, ...); imported as ``metadata``.
    meta: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    import_id: int | None = Field(default=None, foreign_key="imports.id")
    created_at: datetime = Field(default_factory=utcnow)


class Turn(SQLModel, table=True):
    """One utterance; ``number`` counts from 1 within its session."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("session_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", max_length=128)
    number: int
    speaker: str = Field(max_length=16)
    text: str = Field(sa_column=Column(Text, nullable=False))


class Rating(SQLModel, table=True):
    """A client's or counselor's rating of one item for one session."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("session_id", "item_id", "rater_role"),)
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", max_length=128)
    item_id: str = Field(foreign_key="items.id", max_length=64)
    rater_role: str = Field(max_length=16)
    value: int


class Annotator(SQLModel, table=True):
    """An expert who writes or reviews rationales (a pseudonymous name)."""

    __tablename__ = "annotators"
    id: str = Field(primary_key=True, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class Draft(SQLModel, table=True):
    """A drafted rationale with the provenance of the call that made it."""

    __tablename__ = "drafts"
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=128)
    item_id: str = Field(foreign_key="items.id", max_length=64)
    status: str = Field(max_length=16)  # ok | ungrounded | failed
    text: str | None = Field(default=None, sa_column=Column(Text))
    evidence: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    quotes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    grounding_error: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    provider: str = Field(max_length=32)
    model: str = Field(max_length=128)
    base_url_host: str | None = Field(default=None, max_length=255)
    prompt_version: str = Field(max_length=32)
    prompt_hash: str = Field(max_length=64)
    instrument_version: str | None = Field(default=None, max_length=32)
    params: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: float | None = None
    request_id: str | None = Field(default=None, max_length=128)
    finish_reason: str | None = Field(default=None, max_length=32)
    cached_tokens: int | None = None  # prompt tokens served from the server's prefix cache
    # What the server sent as it sent it (llama-server's timings); absent: SQL NULL
    server_timings: dict | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )
    raw_reply: str | None = Field(default=None, sa_column=Column(Text))  # of a failed draft
    created_at: datetime = Field(default_factory=utcnow)


class DraftBatch(SQLModel, table=True):
    """A batch of draft requests handed to a batch interface (``annotate draft --batch-api``).

    Recorded as soon as the batch exists, so a killed command polls it again instead of
    paying for a second one; ``ingested_at`` is set once its results are drafts.
    """

    __tablename__ = "draft_batches"
    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(max_length=128, index=True)
    input_file_id: str = Field(max_length=128)
    output_file_id: str | None = Field(default=None, max_length=128)
    items: int
    model: str = Field(max_length=128)
    base_url_host: str | None = Field(default=None, max_length=255)
    prompt_version: str = Field(max_length=32)
    prompt_hash: str = Field(max_length=64)
    params: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    ingested_at: datetime | None = None


class EndpointFormat(SQLModel, table=True):
    """The structured-output mode an endpoint and model last answered (the negotiated
    ``response_format``), so later runs and every request in flight start with it."""

    __tablename__ = "endpoint_formats"
    __table_args__ = (UniqueConstraint("base_url_host", "model"),)
    id: int | None = Field(default=None, primary_key=True)
    base_url_host: str = Field(max_length=255)
    model: str = Field(max_length=128)
    response_format: str = Field(max_length=32)
    confirmed_at: datetime = Field(default_factory=utcnow)


class Rationale(SQLModel, table=True):
    """The unit of expert work: one (session, item) with its current state.

    ``current_version`` names the version whose text is the rationale's text: set in
    the same UPDATE that wins the optimistic check, never to a ``conflict`` version,
    and None while nothing is saved. ``lock_version`` counts every stored version
    (conflicts too) and is the optimistic check: a save names the one it started from.
    ``draft_id`` is the draft the current text began from (None for imported texts
    and texts written from an empty editor), set in that same UPDATE.
    """

    __tablename__ = "rationales"
    __table_args__ = (UniqueConstraint("session_id", "item_id"),)
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=128)
    item_id: str = Field(foreign_key="items.id", max_length=64)
    author_id: str | None = Field(default=None, foreign_key="annotators.id", max_length=128)
    draft_id: int | None = Field(default=None, foreign_key="drafts.id")
    status: str = Field(default="pending", max_length=24)
    flagged: bool = False
    flag_note: str | None = Field(default=None, sa_column=Column(Text))
    flagged_at: datetime | None = None  # when the author flagged it (None: not flagged)
    lock_version: int = 0
    current_version: int | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    # Place in the author's queue set by ``assign --order`` (1 first); None: session and
    # item order, after every ranked one.
    queue_rank: int | None = None


class RationaleVersion(SQLModel, table=True):
    """Every explicitly saved (or imported) text of a rationale, never overwritten."""

    __tablename__ = "rationale_versions"
    __table_args__ = (UniqueConstraint("rationale_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    rationale_id: int = Field(foreign_key="rationales.id", index=True)
    version: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    author_id: str = Field(foreign_key="annotators.id", max_length=128)
    kind: str = Field(default="save", max_length=16)  # save | accept | import | conflict
    guideline_version: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class Autosave(SQLModel, table=True):
    """Unsaved editor text, kept per (rationale, annotator) until the next save."""

    __tablename__ = "autosaves"
    rationale_id: int = Field(foreign_key="rationales.id", primary_key=True)
    annotator_id: str = Field(foreign_key="annotators.id", primary_key=True, max_length=128)
    text: str = Field(sa_column=Column(Text, nullable=False))
    base_version: int = 0
    draft_id: int | None = Field(default=None, foreign_key="drafts.id")  # what it began from
    saved_at: datetime = Field(default_factory=utcnow)


class Prediction(SQLModel, table=True):
    """A model's rationale (and rating) for one item, imported for blind human evaluation.

    Kept apart from the experts' rationales: never a version, never in an export, never
    in the experts' statistics; ``source`` names the model.
    """

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("source", "session_id", "item_id"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=128, index=True)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=128)
    item_id: str = Field(foreign_key="items.id", max_length=64)
    rating: float | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    imported_at: datetime = Field(default_factory=utcnow)


class ReviewAssignment(SQLModel, table=True):
    """A rationale, or a model's prediction, handed to a reviewer for blind review.

    Exactly one of ``rationale_id`` and ``prediction_id`` is set.
    """

    __tablename__ = "review_assignments"
    __table_args__ = (
        UniqueConstraint("rationale_id", "reviewer_id"),
        UniqueConstraint("prediction_id", "reviewer_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    rationale_id: int | None = Field(default=None, foreign_key="rationales.id", index=True)
    prediction_id: int | None = Field(default=None, foreign_key="predictions.id", index=True)
    reviewer_id: str = Field(foreign_key="annotators.id", index=True, max_length=128)
    status: str = Field(default="pending", max_length=16)  # pending | done
    created_at: datetime = Field(default_factory=utcnow)


class Review(SQLModel, table=True):
    """Rubric scores one reviewer gave one version of a rationale."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("rationale_id", "reviewer_id", "rationale_version"),)
    id: int | None = Field(default=None, primary_key=True)
    rationale_id: int = Field(foreign_key="rationales.id", index=True)
    rationale_version: int
    reviewer_id: str = Field(foreign_key="annotators.id", index=True, max_length=128)
    comment: str | None = Field(default=None, sa_column=Column(Text))
    passed: bool
    rubric_version: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class ReviewScore(SQLModel, table=True):
    """One criterion's score in a review; the criteria are the rubric's (``rubric_version``
    of the review), so a rubric with other criteria needs no schema change."""

    __tablename__ = "review_scores"
    review_id: int = Field(foreign_key="reviews.id", primary_key=True)
    criterion: str = Field(primary_key=True, max_length=64)
    score: int


class PredictionReview(SQLModel, table=True):
    """Rubric scores one reviewer gave a model's prediction (kept apart from ``reviews``)."""

    __tablename__ = "prediction_reviews"
    __table_args__ = (UniqueConstraint("prediction_id", "reviewer_id"),)
    id: int | None = Field(default=None, primary_key=True)
    prediction_id: int = Field(foreign_key="predictions.id", index=True)
    reviewer_id: str = Field(foreign_key="annotators.id", index=True, max_length=128)
    comment: str | None = Field(default=None, sa_column=Column(Text))
    passed: bool
    rubric_version: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class PredictionReviewScore(SQLModel, table=True):
    """One criterion's score in a review of a model's prediction (as ``review_scores``)."""

    __tablename__ = "prediction_review_scores"
    prediction_review_id: int = Field(foreign_key="prediction_reviews.id", primary_key=True)
    criterion: str = Field(primary_key=True, max_length=64)
    score: int


class StoredRubric(SQLModel, table=True):
    """A cross-review rubric a lead loaded (``annotate rubric load FILE``); the newest
    loaded is the one reviews are scored on. A store with none uses the packaged rubric."""

    __tablename__ = "rubrics"
    version: str = Field(primary_key=True, max_length=32)
    threshold: int
    scale_min: int
    scale_max: int
    # criterion id -> {name, question, scores}, in the file's order
    criteria: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    loaded_at: datetime = Field(default_factory=utcnow)


class MarkerScheme(SQLModel, table=True):
    """A turn-level marker scheme (3RS by default) as loaded from ``guidelines/markers``.

    ``codes`` is the scheme's code list (id, family, name, definition, key, examples),
    ``families`` names the families, ``cues`` the offline hinter's cue lists by language.
    """

    __tablename__ = "marker_schemes"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    version: str = Field(max_length=32)
    families: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    codes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cues: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    loaded_at: datetime = Field(default_factory=utcnow)


class Coding(SQLModel, table=True):
    """One coder's turn coding of one session under one scheme: the unit of coding work.

    ``role`` is ``primary`` (the coding that is exported) or ``second`` (a blind second
    coding for agreement). Like a rationale, ``current_version`` names the version whose
    codes are the coding's codes and ``lock_version`` counts the stored versions.
    """

    __tablename__ = "codings"
    __table_args__ = (UniqueConstraint("session_id", "scheme_id", "coder_id"),)
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=128)
    scheme_id: str = Field(foreign_key="marker_schemes.id", max_length=64)
    coder_id: str = Field(foreign_key="annotators.id", index=True, max_length=128)
    role: str = Field(default="primary", max_length=16)  # primary | second
    status: str = Field(default="pending", max_length=24)
    lock_version: int = 0
    current_version: int | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class CodingVersion(SQLModel, table=True):
    """Every change to a coding: the whole code set after it, never overwritten.

    ``codes`` is a sorted list of ``[turn number, code id, origin]`` (origin ``expert``
    or ``suggestion``: accepted from a model's or the hinter's proposal).
    """

    __tablename__ = "coding_versions"
    __table_args__ = (UniqueConstraint("coding_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    coding_id: int = Field(foreign_key="codings.id", index=True)
    version: int
    codes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    author_id: str = Field(foreign_key="annotators.id", max_length=128)
    kind: str = Field(max_length=16)  # add | remove | accept | submit | reopen | import
    scheme_version: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class CodingReview(SQLModel, table=True):
    """A reviewer's verdict on one version of a coding; ``passed`` is None while assigned."""

    __tablename__ = "coding_reviews"
    __table_args__ = (UniqueConstraint("coding_id", "reviewer_id"),)
    id: int | None = Field(default=None, primary_key=True)
    coding_id: int = Field(foreign_key="codings.id", index=True)
    reviewer_id: str = Field(foreign_key="annotators.id", index=True, max_length=128)
    coding_version: int | None = None
    passed: bool | None = None
    comment: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    reviewed_at: datetime | None = None


class MarkerDraft(SQLModel, table=True):
    """One call that proposed codes for a session's turns, with its provenance."""

    __tablename__ = "marker_drafts"
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=128)
    scheme_id: str = Field(foreign_key="marker_schemes.id", max_length=64)
    status: str = Field(max_length=16)  # ok | ungrounded (some proposals) | failed
    error: str | None = Field(default=None, sa_column=Column(Text))
    provider: str = Field(max_length=32)
    model: str = Field(max_length=128)
    base_url_host: str | None = Field(default=None, max_length=255)
    prompt_version: str = Field(max_length=32)
    prompt_hash: str = Field(max_length=64)
    scheme_version: str = Field(max_length=32)
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: float | None = None
    raw_reply: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    # What was asked (temperature, format, ...) and what was done about identifiers
    # ({"deidentify": {...}}), as Draft.params; None for the offline hinter (nothing sent)
    # and for drafts made before revision 0009.
    params: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class MarkerSuggestion(SQLModel, table=True):
    """One proposed code on one turn; only grounded ones are offered to experts."""

    __tablename__ = "marker_suggestions"
    id: int | None = Field(default=None, primary_key=True)
    draft_id: int = Field(foreign_key="marker_drafts.id", index=True)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=128)
    turn_number: int
    code: str = Field(max_length=64)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    quote: str | None = Field(default=None, sa_column=Column(Text))
    grounded: bool
    grounding_error: str | None = Field(default=None, sa_column=Column(Text))


class SuggestionDecision(SQLModel, table=True):
    """A coder's accept or reject of one suggestion in their own coding."""

    __tablename__ = "suggestion_decisions"
    __table_args__ = (UniqueConstraint("suggestion_id", "coding_id"),)
    id: int | None = Field(default=None, primary_key=True)
    suggestion_id: int = Field(foreign_key="marker_suggestions.id", index=True)
    coding_id: int = Field(foreign_key="codings.id", index=True)
    decision: str = Field(max_length=16)  # accepted | rejected
    decided_at: datetime = Field(default_factory=utcnow)


class ImportRecord(SQLModel, table=True):
    """One successful import of a file, for provenance and idempotency reports."""

    __tablename__ = "imports"
    id: int | None = Field(default=None, primary_key=True)
    file_name: str = Field(max_length=500)
    sha256: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=16)
    records: int
    created: int
    unchanged: int
    created_at: datetime = Field(default_factory=utcnow)


class DeidClient(SQLModel, table=True):
    """A client's de-identification settings: the date shift chosen once, at first use.

    ``date_shift_days`` moves every date this client says by the same number of days
    (never 0), so intervals survive; chosen at random per store, never derived from ids.
    """

    __tablename__ = "deid_clients"
    client_id: str = Field(foreign_key="clients.id", primary_key=True, max_length=128)
    date_shift_days: int
    created_at: datetime = Field(default_factory=utcnow)


class DeidSurrogate(SQLModel, table=True):
    """One entry of a client's map: an identifier and the surrogate (or tag, ``mode``)
    that replaces it in every text of the client. The map never leaves the store."""

    __tablename__ = "deid_surrogates"
    __table_args__ = (UniqueConstraint("client_id", "mode", "category", "original"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(foreign_key="clients.id", max_length=128)
    mode: str = Field(max_length=16)  # surrogate | tag
    category: str = Field(max_length=16)
    original: str = Field(sa_column=Column(Text, nullable=False))
    surrogate: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class DeidRosterEntry(SQLModel, table=True):
    """A name or place the lead listed (``annotate deid roster FILE``): known to one
    client's texts, or to everyone's when ``client_id`` is None."""

    __tablename__ = "deid_roster"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(Text, nullable=False))
    category: str = Field(max_length=16)  # name | place
    client_id: str | None = Field(default=None, foreign_key="clients.id", index=True,
                                  max_length=128)  # fmt: skip
    loaded_at: datetime = Field(default_factory=utcnow)


class DeidCorrection(SQLModel, table=True):
    """A person's correction of the detector for one client: ``mark`` a miss (replace
    this text from now on) or ``unmark`` a false hit (never replace it); the latest
    correction of a text is the one in force."""

    __tablename__ = "deid_corrections"
    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(foreign_key="clients.id", index=True, max_length=128)
    text: str = Field(sa_column=Column(Text, nullable=False))
    category: str | None = Field(default=None, max_length=16)  # None: an unmark of any
    action: str = Field(max_length=8)  # mark | unmark
    made_by: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class TurnAlliance(SQLModel, table=True):
    """One turn's inferred alliance: the mean similarity of its text to each dimension's
    items (``scores``: ``{dimension: value}``), by one method and model against one
    instrument version (``annotate trace``). A signal read from language, not a rating."""

    __tablename__ = "turn_alliance"
    __table_args__ = (
        UniqueConstraint("session_id", "turn_number", "method", "model", "instrument_id",
                         "instrument_version"),
    )  # fmt: skip
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=128)
    turn_number: int
    speaker: str = Field(max_length=16)
    method: str = Field(max_length=16)  # embedding | lexical
    model: str = Field(max_length=200)
    instrument_id: str = Field(foreign_key="instruments.id", max_length=64)
    instrument_version: str = Field(max_length=32)
    scores: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Provenance: endpoint host, de-identification, the form compared per speaker.
    params: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class Judgement(SQLModel, table=True):
    """A model's scores of one text on the rubric (``annotate judge``): the current version
    of an accepted rationale (``rationale_id``, ``rationale_version``) or an imported
    prediction (``prediction_id``), exactly one of them set. ``text_hash`` is the judged
    text's SHA-256, so a rerun judges only what changed. A judgement is for leads: it is
    never shown to a reviewer. Its scores are ``judgement_scores`` rows (none when failed)."""

    __tablename__ = "judgements"
    id: int | None = Field(default=None, primary_key=True)
    rationale_id: int | None = Field(default=None, foreign_key="rationales.id", index=True)
    rationale_version: int | None = None
    prediction_id: int | None = Field(default=None, foreign_key="predictions.id", index=True)
    text_hash: str = Field(max_length=64)
    status: str = Field(max_length=16)  # ok | ungrounded | failed
    passed: bool | None = None  # every criterion at or above the rubric's threshold
    reason: str | None = Field(default=None, sa_column=Column(Text))
    evidence: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    quotes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    grounding_error: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    provider: str = Field(max_length=32)
    model: str = Field(max_length=128)
    base_url_host: str | None = Field(default=None, max_length=255)
    prompt_version: str = Field(max_length=32)
    prompt_hash: str = Field(max_length=64)
    rubric_version: str = Field(max_length=32)
    params: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: float | None = None
    raw_reply: str | None = Field(default=None, sa_column=Column(Text))  # of a failed one
    created_at: datetime = Field(default_factory=utcnow)


class JudgementScore(SQLModel, table=True):
    """One criterion's score in a judgement (the criteria of its ``rubric_version``)."""

    __tablename__ = "judgement_scores"
    judgement_id: int = Field(foreign_key="judgements.id", primary_key=True)
    criterion: str = Field(primary_key=True, max_length=64)
    score: int


class DraftSample(SQLModel, table=True):
    """K drafts of one (session, item) asked for together (``draft --samples K``) and
    how much they disagree: ``uncertainty`` by ``method`` (e.g. 1 - mean pairwise
    ROUGE-L F1 over the samples with text), None when fewer than two have text.
    ``draft_ids`` lists the samples' drafts in the order they were asked for."""

    __tablename__ = "draft_samples"
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=128)
    item_id: str = Field(foreign_key="items.id", max_length=64)
    samples: int
    draft_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    method: str = Field(max_length=64)
    uncertainty: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
