"""Marker schemes in the database: install one from a guideline file, read it back."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from annotate.core.errors import ConfigError, NotFoundError
from annotate.core.guidelines import MarkerScheme as SchemeSpec
from store.models import MarkerScheme

DEFAULT_SCHEME = "3rs"
CLIENT_FAMILIES = ("confrontation", "withdrawal")  # markers of what the client does
COUNSELOR_FAMILIES = ("repair",)  # what the counselor does


def speaker_of(scheme: SchemeSpec, code: str) -> str | None:
    """Whose turns ``code`` goes on: client markers on the client's, repairs on the
    counselor's; None for a team's own families (any turn)."""
    family = scheme.code(code).family
    if family in CLIENT_FAMILIES:
        return "client"
    if family in COUNSELOR_FAMILIES:
        return "counselor"
    return None


def speaker_fits(scheme: SchemeSpec, code: str, speaker: str) -> bool:
    """Whether ``code`` may go on a turn of ``speaker`` (see :func:`speaker_of`)."""
    side = speaker_of(scheme, code)
    return side is None or side == speaker


def misplaced(scheme: SchemeSpec, code: str, turn: int, speaker: str) -> str | None:
    """Why ``code`` may not go on ``turn``, spoken by ``speaker``, or None when it may:
    the one message of the rule, for the coding screen and the codings import alike."""
    side = speaker_of(scheme, code)
    if side is None or side == speaker:
        return None
    entry = scheme.code(code)
    return (
        f"code {code!r} ({entry.name}) is a {entry.family} code, which goes on {side} "
        f"turns; turn {turn} is the {speaker}'s"
    )


def install_markers(session: Session, spec: SchemeSpec) -> bool:
    """Insert or update a marker scheme; True when anything changed."""
    values: dict[str, Any] = {
        "name": spec.name,
        "version": spec.version,
        "families": {key: family.model_dump() for key, family in spec.families.items()},
        "codes": [code.model_dump() for code in spec.codes],
        "cues": spec.cues,
    }
    existing = session.get(MarkerScheme, spec.id)
    if existing is None:
        session.add(MarkerScheme(id=spec.id, **values))
        session.flush()
        return True
    if all(getattr(existing, key) == value for key, value in values.items()):
        return False
    if existing.version == spec.version:
        changed = [key for key, value in values.items() if getattr(existing, key) != value]
        raise ConfigError(
            f"marker scheme {spec.id} {spec.version} is stored with other content "
            f"({', '.join(changed)} differ): bump the version in the file to load the change"
        )
    for key, value in values.items():
        setattr(existing, key, value)
    session.add(existing)
    session.flush()
    return True


def stored_scheme(session: Session, scheme_id: str = DEFAULT_SCHEME) -> SchemeSpec:
    """The scheme as stored (what coders code against), validated like its file."""
    row = session.get(MarkerScheme, scheme_id)
    if row is None:
        raise NotFoundError(
            f"no marker scheme {scheme_id!r}: load one with 'annotate codes load FILE'"
        )
    return SchemeSpec.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "version": row.version,
            "families": row.families,
            "codes": row.codes,
            "cues": row.cues,
        }
    )
