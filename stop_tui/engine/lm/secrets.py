"""API keys: where they come from (environment, a keys file) and keeping them out of text.

Keys live only in the engine process. Whatever text leaves the gateway (events, the session
log, screens, error messages) goes through a Redactor first.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..sandbox.limits import SECRET_MARKERS
from .base import ModelError

REDACTED = "[redacted]"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Key-like text in messages even when the key itself is not known here (a provider echoing
# a different key, a key pasted into a URL).
_PATTERNS = (
    re.compile(r"\b(sk|pk|rk|ak)-[A-Za-z0-9_\-]{12,}"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9_\-.=+/]{8,}"),
    re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access_token)=)[^&\s]+"),
    re.compile(r"(?i)(https?://)[^/\s:@]+:[^/\s@]+@"),  # user:password@host
)
MIN_SECRET_LENGTH = 6


def read_keys_file(path: Path) -> dict[str, str]:
    """NAME=value lines (.env style, `export` and quotes allowed) or a TOML file of strings."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read keys file {path}: {getattr(exc, 'strerror', None) or exc}.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return _env_lines(path, text)
    keys: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, str):
            keys[name] = value
        elif isinstance(value, dict):  # a [keys] or [env] table
            keys.update({k: v for k, v in value.items() if isinstance(v, str)})
    return keys


def _env_lines(path: Path, text: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not _NAME.fullmatch(name):
            # Never echo the line: it may hold a key.
            raise ModelError(f"keys file {path}, line {number}: expected NAME=value or TOML.")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        keys[name] = value
    return keys


def looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


class Redactor:
    """Replaces every known secret, and anything shaped like a key, with [redacted]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    @classmethod
    def for_environment(cls, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> Redactor:
        environ = os.environ if environ is None else environ
        return cls([v for k, v in environ.items() if looks_secret(k)] + list(extra))

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= MIN_SECRET_LENGTH and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _PATTERNS[0].sub(REDACTED, text)
        text = _PATTERNS[1].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        text = _PATTERNS[2].sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        return _PATTERNS[3].sub(lambda m: f"{m.group(1)}{REDACTED}@", text)


def without_credentials(url: str | None) -> str | None:
    """A URL fit to log: no user:password, no key in the query."""
    if url is None:
        return None
    return Redactor()(url)
