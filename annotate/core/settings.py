"""The settings of one invocation, and the one place the environment is read for them.

``Settings.load`` builds them once from the global options and the environment:
``$ANNOTATE_DB`` (the store, when ``--db`` is not given), and the drafting endpoint,
``$OPENAI_BASE_URL`` and ``$ANNOTATE_DRAFT_MODEL``. The command line puts them on the
click context (``ctx.obj``); the domain takes what it needs as arguments.

The API key (``$OPENAI_API_KEY``) is the exception: :func:`api_key` reads it at the
moment a client is made or a text is scrubbed, and nothing keeps it, so no settings
object, ``repr``, log line or traceback can show it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DB_VARIABLE = "ANNOTATE_DB"
KEY_VARIABLE = "OPENAI_API_KEY"
BASE_URL_VARIABLE = "OPENAI_BASE_URL"
MODEL_VARIABLE = "ANNOTATE_DRAFT_MODEL"


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def api_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The API key for OpenAI-compatible endpoints (None when unset or empty).

    The one place it is read. Hand it to the client or the scrubber and let it go: it is
    never stored, printed or logged, not even in part.
    """
    return _environ(environ).get(KEY_VARIABLE) or None


@dataclass(frozen=True)
class Endpoint:
    """The drafting endpoint the environment names (None: not set there)."""

    base_url: str | None = None  # $OPENAI_BASE_URL
    model: str | None = None  # $ANNOTATE_DRAFT_MODEL

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Endpoint:
        environ = _environ(environ)
        return cls(
            base_url=environ.get(BASE_URL_VARIABLE) or None,
            model=environ.get(MODEL_VARIABLE) or None,
        )


@dataclass(frozen=True)
class Settings:
    """The global options of one invocation, with the environment's defaults filled in."""

    db: str | None = None  # --db, else $ANNOTATE_DB; None: the store's default file
    db_option: str | None = None  # --db as given (None: not given)
    debug: bool = False  # --debug: tracebacks instead of one-line errors
    endpoint: Endpoint = field(default_factory=Endpoint)

    @classmethod
    def load(
        cls,
        *,
        db: str | None = None,
        debug: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Settings from the options given and the environment, read once here."""
        environ = _environ(environ)
        return cls(
            db=db or environ.get(DB_VARIABLE) or None,
            db_option=db,
            debug=debug,
            endpoint=Endpoint.from_environment(environ),
        )
