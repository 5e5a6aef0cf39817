"""The user's own keys: a small TOML file mapping binding ids to keys.

``$ANNOTATE_KEYMAP``, else ``$XDG_CONFIG_HOME/annotate/keys.toml`` (``~/.config/...``)::

    [keys]
    "annotate.revert" = "f10"
    "annotate.next" = "alt+down"

Ids are the ``id=`` of every Binding (Help lists them with their keys); several keys
are separated by commas. A missing file means the defaults; a broken one is refused
in one line before the UI starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from textual.binding import Binding, BindingType
from textual.keys import Keys, _character_to_key

from annotate.core import reading
from annotate.core.errors import ConfigError

MAX_KEYMAP_BYTES = 64 * 1024
MAX_KEYS_PER_BINDING = 4
_MODIFIERS = ("ctrl", "alt", "shift", "super", "meta", "hyper")
_NAMED = {key.value.rsplit("+", 1)[-1] for key in Keys} | {f"f{n}" for n in range(1, 25)}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,23}$")


def keymap_path() -> Path:
    explicit = os.environ.get("ANNOTATE_KEYMAP")
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "annotate" / "keys.toml"


def binding_ids(owners: Sequence[type]) -> dict[str, Binding]:
    """Every binding of OWNERS (the app and its screens), by id."""
    found: dict[str, Binding] = {}
    for owner in owners:
        for binding in _bindings(owner.BINDINGS):  # type: ignore[attr-defined]
            if binding.id:
                found[binding.id] = binding
    return found


def _bindings(bindings: Iterable[BindingType]) -> Iterable[Binding]:
    return (binding for binding in bindings if isinstance(binding, Binding))


def usable_key(key: str) -> bool:
    """A key Textual can deliver: modifiers, then one printable character or a key name."""
    *modifiers, last = key.split("+") if len(key) > 1 else [key]
    if len(modifiers) > 3 or any(m not in _MODIFIERS for m in modifiers):
        return False
    if len(last) == 1:
        return last.isprintable() and not last.isspace() and last not in ",+"
    return last in _NAMED or (_NAME.match(last) is not None and last.isascii())


def load_keymap(owners: Sequence[type], path: Path | None = None) -> dict[str, str]:
    """The user's keymap (empty without a file); unknown ids, keys Textual cannot
    deliver and keys given to two bindings of one screen are refused in one line.

    OWNERS are the app class first, then its screens (``tui.app.keymap_owners``): the
    app's bindings work on every screen."""
    path = path or keymap_path()
    if not path.exists() and not path.is_symlink():
        return {}
    text = reading.read_text(path, MAX_KEYMAP_BYTES, "keymap")
    data = reading.load_toml(path, text)
    keys = data.get("keys")
    if set(data) - {"keys"} or not isinstance(keys, dict):
        raise ConfigError(f'{path}: a keymap has one table, [keys], of binding id = "key"')
    known = binding_ids(owners)
    keymap: dict[str, str] = {}
    for binding_id, value in keys.items():
        line = reading.line_of(text, ("keys", binding_id))
        where = f"{path}:{line}" if line else str(path)
        if binding_id not in known:
            import difflib

            close = difflib.get_close_matches(binding_id[:100], sorted(known), n=3)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise ConfigError(
                f"{where}: unknown binding id {reading.shown(binding_id)} "
                f"({hint}Help, F1, lists every id)"
            )
        parts = [part.strip() for part in value.split(",")] if isinstance(value, str) else []
        if not parts or not all(parts) or len(parts) > MAX_KEYS_PER_BINDING:
            raise ConfigError(
                f'{where}: {binding_id} needs one to {MAX_KEYS_PER_BINDING} keys such as "f10" '
                'or "ctrl+g, alt+down"'
            )
        for part in parts:
            if not usable_key(part):
                raise ConfigError(
                    f"{where}: {binding_id}: {reading.shown(part)} is not a key "
                    '(write e.g. "f10", "ctrl+g", "alt+down", "question_mark")'
                )
        keymap[binding_id] = ",".join(_named(part) for part in parts)
    _refuse_conflicts(path, text, keymap, owners)
    return keymap


def _named(key: str) -> str:
    """One spelling per key: Textual names ``?`` ``question_mark``."""
    *modifiers, last = key.split("+") if len(key) > 1 else [key]
    return "+".join([*modifiers, _character_to_key(last) if len(last) == 1 else last])


def _keys(binding: Binding, keymap: dict[str, str]) -> set[str]:
    chosen = keymap.get(binding.id or "", binding.key)
    return {_named(key.strip()) for key in chosen.split(",") if key.strip()}


def _refuse_conflicts(
    path: Path, text: str, keymap: dict[str, str], owners: Sequence[type]
) -> None:
    """Two bindings that are active together must not share a key (e.g. everything on
    F5 would make F5 quit); pairs that share one by default (F1 opens and closes Help)
    are left alone."""
    app_bindings = list(_bindings(owners[0].BINDINGS))  # type: ignore[attr-defined]
    for owner in owners:
        own = list(_bindings(owner.BINDINGS))  # type: ignore[attr-defined]
        active = own if owner is owners[0] else app_bindings + own
        holder: dict[str, Binding] = {}
        for binding in active:
            for key in sorted(_keys(binding, keymap)):
                other = holder.setdefault(key, binding)
                if other is binding or other.action == binding.action:
                    continue
                if key in _keys(other, {}) and key in _keys(binding, {}):
                    continue  # shared in the defaults
                mapped = binding.id if binding.id in keymap else other.id
                line = reading.line_of(text, ("keys", mapped or ""))
                where = f"{path}:{line}" if line else str(path)
                raise ConfigError(
                    f"{where}: {key} would be both {other.id or other.action} and "
                    f"{binding.id or binding.action}; give each its own key"
                )
