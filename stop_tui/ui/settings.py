"""The user's settings file: remembered theme and remapped keys.

`$STOP_TUI_CONFIG_DIR/config.toml`, else `$XDG_CONFIG_HOME/stop-tui/config.toml`, else
`~/.config/stop-tui/config.toml`:

    theme = "stop-light"

    [keymap]          # binding id = key(s), see the help screen (?) for the ids
    pause = "space"
    approve = "y"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import config_dir

CONFIG_NAME = "config.toml"
_THEME_LINE = re.compile(r'^theme\s*=.*$', re.MULTILINE)


@dataclass
class Settings:
    theme: str | None = None
    keymap: dict[str, str] = field(default_factory=dict)
    path: Path = field(default_factory=lambda: config_dir() / CONFIG_NAME)
    problem: str | None = None  # why the file was not usable, said once in the app

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        path = path or config_dir() / CONFIG_NAME
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path=path)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return cls(path=path, problem=f"{path} is not valid TOML ({exc}); using defaults")
        theme = data.get("theme")
        keymap = data.get("keymap", {})
        if not isinstance(keymap, dict) or not all(isinstance(v, str) for v in keymap.values()):
            return cls(path=path, theme=theme if isinstance(theme, str) else None,
                       problem=f"[keymap] in {path} must map binding ids to key strings; ignored")
        return cls(theme=theme if isinstance(theme, str) else None, keymap=dict(keymap), path=path)

    def remember_theme(self, name: str) -> None:
        """Write theme = NAME into the file, keeping everything else the user wrote there."""
        self.theme = name
        line = f'theme = "{name}"'
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        text = _THEME_LINE.sub(line, text, count=1) if _THEME_LINE.search(text) else f"{line}\n{text}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(text, encoding="utf-8")
