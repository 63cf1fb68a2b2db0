"""Where the bundled tasks and themes are: the repository's top-level folders in a checkout
or an editable install, stop_tui/_data/ in an installed wheel."""

from __future__ import annotations

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
