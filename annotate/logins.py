"""Per-expert logins for ``annotate serve --logins``: one Argon2 hash per expert, no secrets kept.

The file is small TOML that this module writes itself (readable by its owner only). A
secret is made here, shown once to whoever runs ``annotate login add``, and handed to the
expert; the server keeps only its hash, so a copied file does not let anyone log in.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from annotate.errors import ConfigError

HEADER = (
    "# annotate serve logins: an Argon2 hash per expert (made by 'annotate login add').\n"
    "# The secrets themselves are not stored anywhere.\n"
)


@dataclass(frozen=True)
class Login:
    """One expert's login: the hash of their secret and when it was made."""

    name: str
    secret_hash: str
    created: str


def _hasher():  # type: ignore[no-untyped-def]
    try:
        from argon2 import PasswordHasher
    except ImportError:
        raise ConfigError("logins need argon2-cffi: pip install 'annotate[serve]'") from None
    return PasswordHasher()


def read_logins(path: Path) -> dict[str, Login]:
    """The logins in PATH (none when it does not exist yet)."""
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: not a logins file: {error}") from None
    logins: dict[str, Login] = {}
    table = data.get("logins", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: 'logins' must be a table of experts")
    for name, entry in table.items():
        if not isinstance(entry, Mapping) or not str(entry.get("hash", "")).startswith("$argon2"):
            raise ConfigError(f"{path}: login {name!r} has no Argon2 hash")
        logins[name] = Login(name, str(entry["hash"]), str(entry.get("created", "")))
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


def check_name(name: str) -> str:
    """NAME stripped, refused when empty or holding control characters."""
    cleaned = name.strip()
    if not cleaned or any(ord(char) < 32 or ord(char) == 127 for char in cleaned):
        raise ConfigError(f"{name!r} is not a usable annotator name")
    return cleaned


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
    """Remove NAME's login from PATH: their secret stops working at the server's next start."""
    logins = read_logins(path)
    if name not in logins:
        raise ConfigError(f"{name} has no login in {path}")
    del logins[name]
    _write(path, logins)


class LoginCheck:
    """Checks a name and secret against a logins file, taking as long for unknown names."""

    def __init__(self, logins: Mapping[str, Login]) -> None:
        self._logins = dict(logins)
        self._hasher = _hasher()
        self._decoy = self._hasher.hash(secrets.token_urlsafe(18))

    @property
    def names(self) -> list[str]:
        return sorted(self._logins)

    def verify(self, name: str, secret: str) -> bool:
        """Whether SECRET is NAME's (slow by design: Argon2)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        login = self._logins.get(name)
        try:
            self._hasher.verify(login.secret_hash if login else self._decoy, secret)
        except (VerificationError, InvalidHashError):
            return False
        return login is not None
