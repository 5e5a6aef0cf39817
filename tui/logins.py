"""Per-expert logins for ``annotate serve --logins``: one Argon2 hash per expert, no secrets kept.

The file is small TOML that this module writes itself (readable by its owner only). A
secret is made here, shown once to whoever runs ``annotate login add``, and handed to the
expert; the server keeps only its hash, so a copied file does not let anyone log in.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import tempfile
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from annotate.core import reading
from annotate.core.errors import ConfigError

HEADER = (
    "# annotate serve logins: an Argon2 hash per expert (made by 'annotate login add').\n"
    "# The secrets themselves are not stored anywhere.\n"
)
MAX_NAME_LENGTH = 64  # characters of a login name
MAX_FILE_BYTES = 1 << 20  # a logins file is read only up to this size


@dataclass(frozen=True)
class Login:
    """One expert's login: the hash of their secret and when it was made."""

    name: str
    secret_hash: str
    created: str


def _hasher():
    try:
        from argon2 import PasswordHasher
    except ImportError:
        raise ConfigError("logins need argon2-cffi: pip install 'annotate[serve]'") from None
    return PasswordHasher()


def read_logins(path: Path) -> dict[str, Login]:
    """The logins in PATH (none when it does not exist yet).

    Anything but a small TOML file of this shape is refused in one line: another kind of
    file (a folder, a pipe, a device), more than ``MAX_FILE_BYTES``, text that is not
    UTF-8 or not TOML (nesting too deep for the parser too), a login whose name
    :func:`name_problem` refuses or that has no Argon2 hash.
    """
    if not os.path.lexists(path):
        return {}
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise ConfigError(f"{path}: not a logins file (not a regular file)")
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the logins file: {error.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            f"{path}: not a logins file (larger than {MAX_FILE_BYTES >> 20} MiB; "
            "'annotate login add' writes a few hundred bytes per expert)"
        )
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not a logins file: not UTF-8 text (byte {error.start + 1})"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not a logins file: {error}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a logins file: nested too deeply") from None
    logins: dict[str, Login] = {}
    table = data.get("logins", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: 'logins' must be a table of experts")
    for name, entry in table.items():
        problem = name_problem(name)
        if problem is not None:
            raise ConfigError(f"{path}: login {name!r} is not a usable name: {problem}")
        secret_hash = entry.get("hash") if isinstance(entry, Mapping) else None
        if not isinstance(secret_hash, str) or not secret_hash.startswith("$argon2"):
            raise ConfigError(f"{path}: login {name!r} has no Argon2 hash")
        logins[name] = Login(name, secret_hash, str(entry.get("created", ""))[:64])
    return logins


def _write(path: Path, logins: Mapping[str, Login]) -> None:
    lines = [HEADER]
    for login in sorted(logins.values(), key=lambda entry: entry.name):
        # JSON string escapes are valid TOML basic-string escapes.
        lines.append(f"\n[logins.{json.dumps(login.name, ensure_ascii=False)}]\n")
        lines.append(f"hash = {json.dumps(login.secret_hash)}\n")
        lines.append(f"created = {json.dumps(login.created)}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:  # mkstemp makes it 0600
            out.write("".join(lines))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def name_problem(name: str) -> str | None:
    """Why NAME cannot be a login name, or None: a name is 1 to ``MAX_NAME_LENGTH``
    printable characters (any script) without spaces at either end; control characters,
    invisible format characters (U+200B, U+200D, U+FEFF), separators other than the
    space, unassigned code points and surrogates (bytes that were not UTF-8) are refused."""
    if not name:
        return "it is empty"
    bad = next((char for char in name if not char.isprintable()), None)
    if bad is not None:
        if unicodedata.category(bad) == "Cs":
            return "it is not valid UTF-8"
        return f"it holds the invisible or control character U+{ord(bad):04X}"
    if name != name.strip():
        return "it starts or ends with a space"
    if len(name) > MAX_NAME_LENGTH:
        return f"it is longer than {MAX_NAME_LENGTH} characters"
    return None


def check_name(name: str) -> str:
    """NAME itself when it is a usable login name, else ConfigError saying why."""
    problem = name_problem(name)
    if problem is not None:
        raise ConfigError(f"{reading.shown(name)} is not a usable login name: {problem}")
    return name


def add_login(path: Path, name: str, *, replace: bool = False) -> str:
    """Make a fresh secret for NAME, store its hash in PATH and return the secret."""
    name = check_name(name)
    logins = read_logins(path)
    if name in logins and not replace:
        raise ConfigError(f"{name} already has a login in {path}: pass --replace for a new secret")
    secret = secrets.token_urlsafe(18)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    logins[name] = Login(name, _hasher().hash(secret), created)
    _write(path, logins)
    return secret


def remove_login(path: Path, name: str) -> None:
    """Remove NAME's login from PATH: a running server closes their sessions within seconds."""
    name = check_name(name)
    logins = read_logins(path)
    if name not in logins:
        raise ConfigError(f"{name} has no login in {path}")
    del logins[name]
    _write(path, logins)


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    """What changes when PATH is rewritten (``os.replace`` gives it a new inode)."""
    if path is None:
        return None
    try:
        status = path.stat()
    except FileNotFoundError:
        return (0, 0, 0)
    return (status.st_ino, status.st_mtime_ns, status.st_size)


class LoginCheck:
    """Checks a name and secret against a logins file, taking as long for unknown names.

    Made with ``from_file``, it follows the file: ``refresh`` re-reads it when it changed,
    so that a login removed or replaced while the server runs stops working at once.
    """

    def __init__(self, logins: Mapping[str, Login], path: Path | None = None) -> None:
        self._logins = dict(logins)
        self._path = path
        self._stamp = _stamp(path)
        self._hasher = _hasher()
        self._decoy = self._hasher.hash(secrets.token_urlsafe(18))

    @classmethod
    def from_file(cls, path: Path) -> LoginCheck:
        """The logins in PATH, re-read by ``refresh`` whenever PATH changes."""
        return cls(read_logins(path), path)

    @property
    def names(self) -> list[str]:
        return sorted(self._logins)

    def hash_of(self, name: str) -> str | None:
        """NAME's current secret hash (None: no login), to tell a replaced secret."""
        login = self._logins.get(name)
        return login.secret_hash if login else None

    def refresh(self) -> bool:
        """Re-read the file if it changed since it was read; whether it did.

        A file that no longer parses raises ConfigError and the logins stay as they were.
        """
        stamp = _stamp(self._path)
        if self._path is None or stamp == self._stamp:
            return False
        self._logins = read_logins(self._path)
        self._stamp = stamp
        return True

    def verified_hash(self, name: str, secret: str) -> str | None:
        """The hash SECRET matched when it is NAME's, else None (slow by design: Argon2)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        login = self._logins.get(name)
        try:
            self._hasher.verify(login.secret_hash if login else self._decoy, secret)
        except (VerificationError, InvalidHashError):
            return None
        return login.secret_hash if login else None

    def verify(self, name: str, secret: str) -> bool:
        """Whether SECRET is NAME's (slow by design: Argon2)."""
        return self.verified_hash(name, secret) is not None
