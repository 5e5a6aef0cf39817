"""One exception family: every error a user can cause carries a one-line message."""

from __future__ import annotations


class AnnotateError(Exception):
    """Base class; ``str(error)`` is the one line shown to the user."""

    exit_code = 1


class ConfigError(AnnotateError):
    """A setting, guideline file or option is wrong."""


class SchemaError(AnnotateError):
    """The database schema is not the one this version of annotate needs."""


class NotFoundError(AnnotateError):
    """A session, item, rationale or annotator that was named does not exist."""


class PermissionDenied(AnnotateError):
    """An action the workflow forbids (e.g. reviewing one's own rationale)."""


class ConflictError(AnnotateError):
    """Someone else saved first: the optimistic version check failed.

    ``kept_version`` is the version under which the losing text was stored (kind
    ``conflict``), ``lock_version`` the rationale's version to name in the next save.
    """

    def __init__(
        self,
        message: str,
        *,
        rationale_id: int | None = None,
        kept_version: int | None = None,
        lock_version: int | None = None,
    ) -> None:
        super().__init__(message)
        self.rationale_id = rationale_id
        self.kept_version = kept_version
        self.lock_version = lock_version


class StaleVersion(ConflictError):
    """The rationale's current version changed since it was shown (e.g. to a reviewer)."""


class StoreBusy(AnnotateError):
    """Another writer held the database for longer than the lock wait allows."""


class ImportFailed(AnnotateError):
    """An input file had errors; nothing from it was written."""

    def __init__(self, path: str, errors: list[str], truncated: int = 0) -> None:
        self.path = path
        self.errors = errors
        self.truncated = truncated
        more = f" (and {truncated} more)" if truncated else ""
        super().__init__(f"{path}: {len(errors) + truncated} error(s){more}; nothing was imported")
