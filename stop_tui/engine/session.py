"""The session log: events appended one JSON object a line, schema version in the first line."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiofiles

from .events import SCHEMA_VERSION, Event, LMChunk, UnknownEventError, event_from_dict

LOG_NAME = "session.jsonl"
SCHEMA_NAME = "stop-tui-session"


class SessionError(Exception):
    """A session directory or log that cannot be used; the message is one sentence for a user."""


def prepare_session_dir(directory: Path) -> Path:
    """Create the session directory (or accept an empty one) and return the log's path.

    Checks writability before any run work starts, so bad input leaves nothing half-written.
    """
    log_path = directory / LOG_NAME
    if log_path.exists():
        raise SessionError(f"{directory} already holds a session; choose a new directory.")
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        if created:
            _remove_empty_dirs(directory)
        raise SessionError(f"cannot write to session directory {directory}: {exc.strerror or exc}.") from None
    return log_path


def _remove_empty_dirs(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass


class SessionWriter:
    """Appends events to the log and flushes each one, so a killed run loses nothing completed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = None

    async def open(self, run_id: str) -> None:
        self._file = await aiofiles.open(self.path, "a", encoding="utf-8")
        header = {"schema": SCHEMA_NAME, "version": SCHEMA_VERSION, "run_id": run_id, "created": time.time()}
        await self._write_line(header)

    async def _write_line(self, obj: dict) -> None:
        assert self._file is not None, "SessionWriter.open() first"
        await self._file.write(json.dumps(obj, separators=(",", ":")) + "\n")
        await self._file.flush()

    async def write(self, event: Event) -> None:
        # Chunks are transient: each finished request logs its full responses, from which a
        # replay re-streams them. Logging every token would multiply a log's size by ~40.
        if isinstance(event, LMChunk):
            return
        await self._write_line(event.to_dict())

    async def close(self) -> None:
        if self._file is not None:
            await self._file.flush()
            await self._file.close()
            self._file = None


@dataclass
class SessionHeader:
    version: int
    run_id: str
    created: float


def read_session(path: Path) -> tuple[SessionHeader, list[Event]]:
    header, events = None, []
    for item in iter_session(path):
        if isinstance(item, SessionHeader):
            header = item
        else:
            events.append(item)
    assert header is not None
    return header, events


def iter_session(path: Path) -> Iterator[SessionHeader | Event]:
    """Yield the header, then each event. A truncated last line (a run killed mid-write) is skipped."""
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise SessionError(f"cannot read session log {path}: {exc.strerror or exc}.") from None
    with handle:
        first = handle.readline()
        header = _parse_header(path, first)
        yield header
        line_no = 1
        pending: str | None = None
        for line in handle:
            line_no += 1
            if pending is not None:
                yield _parse_event(path, line_no - 1, pending)
            pending = line
        if pending is not None:
            if pending.endswith("\n"):
                yield _parse_event(path, line_no, pending)
            else:
                try:
                    yield _parse_event(path, line_no, pending)
                except SessionError:
                    return  # the run was killed while writing this line


def _parse_header(path: Path, line: str) -> SessionHeader:
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_NAME:
        raise SessionError(f"{path} is not a stop-tui session log.")
    version = data.get("version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise SessionError(
            f"{path} was written with session schema {version}, newer than this stop-tui reads ({SCHEMA_VERSION}); upgrade stop-tui."
        )
    return SessionHeader(version=version, run_id=str(data.get("run_id", "")), created=float(data.get("created", 0)))


def _parse_event(path: Path, line_no: int, line: str) -> Event:
    try:
        return event_from_dict(json.loads(line))
    except (ValueError, TypeError, UnknownEventError) as exc:
        raise SessionError(f"{path}, line {line_no}: corrupt event ({exc}).") from None


def default_sessions_root() -> Path:
    return Path(os.environ.get("STOP_TUI_SESSIONS", Path.cwd() / "stop-sessions"))
