from __future__ import annotations

import json

import pytest

from stop_tui.engine.events import EngineError, GenerationStarted, event_from_dict
from stop_tui.engine.session import SessionError, SessionWriter, prepare_session_dir, read_session


async def write_log(path, events):
    writer = SessionWriter(path)
    await writer.open("run1")
    for event in events:
        await writer.write(event)
    await writer.close()


async def test_round_trip_and_schema_line(tmp_path):
    path = tmp_path / "s.jsonl"
    events = [GenerationStarted(generation=1, improver_sha="abc"), EngineError(message="boom")]
    await write_log(path, events)
    first = json.loads(path.read_text().splitlines()[0])
    assert first["schema"] == "stop-tui-session" and first["version"] == 1
    header, read = read_session(path)
    assert header.run_id == "run1" and read == events


async def test_truncated_last_line_is_ignored(tmp_path):
    path = tmp_path / "s.jsonl"
    await write_log(path, [GenerationStarted(generation=1, improver_sha="abc")])
    with open(path, "a") as handle:
        handle.write('{"type": "generation_started", "gener')
    _, read = read_session(path)
    assert len(read) == 1


async def test_corrupt_line_names_file_and_line(tmp_path):
    path = tmp_path / "s.jsonl"
    await write_log(path, [GenerationStarted(generation=1, improver_sha="a"), GenerationStarted(generation=2, improver_sha="b")])
    lines = path.read_text().splitlines()
    lines[1] = "not json"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SessionError, match="line 2"):
        read_session(path)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"schema": "stop-tui-session", "version": 99}) + "\n")
    with pytest.raises(SessionError, match="newer"):
        read_session(path)


def test_events_ignore_unknown_fields_from_newer_writers():
    event = event_from_dict({"type": "engine_error", "message": "m", "ts": 1.0, "added_later": 5})
    assert event == EngineError(message="m", ts=1.0)


def test_prepare_session_dir_refuses_existing_session(tmp_path):
    prepare_session_dir(tmp_path / "s")
    (tmp_path / "s" / "session.jsonl").write_text("")
    with pytest.raises(SessionError, match="already holds"):
        prepare_session_dir(tmp_path / "s")
