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
import tomllib
from collections.abc import Iterable
from pathlib import Path

from textual.binding import Binding, BindingType

from annotate.errors import ConfigError


def keymap_path() -> Path:
    explicit = os.environ.get("ANNOTATE_KEYMAP")
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "annotate" / "keys.toml"


def binding_ids() -> dict[str, Binding]:
    """Every binding of the app and its screens, by id."""
    from tui.app import AnnotateApp
    from tui.screens.annotate import AnnotateScreen
    from tui.screens.coding import CodingScreen
    from tui.screens.flag import FlagScreen
    from tui.screens.help import HelpScreen
    from tui.screens.progress import ProgressScreen
    from tui.screens.queue import QueueScreen
    from tui.screens.review import ReviewScreen

    found: dict[str, Binding] = {}
    for owner in (AnnotateApp, AnnotateScreen, ReviewScreen, QueueScreen, ProgressScreen,
                  HelpScreen, FlagScreen, CodingScreen):  # fmt: skip
        for binding in _bindings(owner.BINDINGS):
            if binding.id:
                found[binding.id] = binding
    return found


def _bindings(bindings: Iterable[BindingType]) -> Iterable[Binding]:
    return (binding for binding in bindings if isinstance(binding, Binding))


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """The user's keymap (empty without a file); unknown ids and bad values are refused."""
    path = path or keymap_path()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: not a readable TOML keymap: {error}") from None
    keys = data.get("keys")
    if set(data) - {"keys"} or not isinstance(keys, dict):
        raise ConfigError(f'{path}: a keymap has one table, [keys], of binding id = "key"')
    known = binding_ids()
    for binding_id, value in keys.items():
        if binding_id not in known:
            raise ConfigError(
                f"{path}: unknown binding id {binding_id!r}; known: {', '.join(sorted(known))}"
            )
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f'{path}: {binding_id} needs a key such as "f10" or "ctrl+g"')
    return {binding_id: value.strip() for binding_id, value in keys.items()}
