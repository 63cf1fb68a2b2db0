"""Theme files (TOML) turned into Textual themes; a bad file is skipped, never fatal."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from textual.theme import Theme

THEME_FIELDS = {f.name for f in dataclasses.fields(Theme)}


def load_theme_file(path: Path) -> Theme:
    """One theme, or ValueError with a sentence saying what is wrong with the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"theme file {path.name} cannot be read: {exc}") from None
    unknown = sorted(set(data) - THEME_FIELDS)
    if unknown:
        raise ValueError(f"theme file {path.name} has unknown fields: {', '.join(unknown)}")
    if not isinstance(data.get("name"), str) or not isinstance(data.get("primary"), str):
        raise ValueError(f"theme file {path.name} needs a name and a primary colour")
    try:
        theme = Theme(**data)
        theme.to_color_system()  # parses every colour now, not at the first repaint
    except Exception as exc:  # Textual raises several types for bad colours
        raise ValueError(f"theme file {path.name} has a bad value: {exc}") from None
    return theme


def load_themes(folders: list[Path]) -> tuple[list[Theme], list[str]]:
    """Every *.toml theme in the folders (later folders override by name), and the problems."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in folders:
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems
