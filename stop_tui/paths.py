"""Where things are: the bundled tasks and themes (the repository's top-level folders in a
checkout or an editable install, stop_tui/_data/ in an installed wheel) and the user's config
folder (the UI's settings and themes, the engine's instance secret)."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _bundled(name: str) -> Path:
    in_checkout = _PACKAGE.parent / name
    if (_PACKAGE.parent / "pyproject.toml").exists() and in_checkout.is_dir():
        return in_checkout
    return _PACKAGE / "_data" / name


def bundled_tasks_dir() -> Path:
    return _bundled("tasks")


def bundled_themes_dir() -> Path:
    return _bundled("themes")


def config_dir() -> Path:
    """$STOP_TUI_CONFIG_DIR, else $XDG_CONFIG_HOME/stop-tui, else ~/.config/stop-tui."""
    if os.environ.get("STOP_TUI_CONFIG_DIR"):
        return Path(os.environ["STOP_TUI_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "stop-tui"
