"""Snapshots of the TUI's screens, on a recorded session with frozen time and ids.

Update after an intended change of the screens: pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import pytest

from stop_tui.ui.screens.approval import ApprovalScreen

from .tui_support import SIZE, events_until_last_proposal, recorded_app


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STOP_TUI_CONFIG_DIR", str(tmp_path))
    return tmp_path


async def settle(pilot):
    await pilot.pause(0.3)  # a repaint tick or two
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.2)


def test_main_screen(snap_compare, config_dir):
    assert snap_compare(recorded_app(config_dir), terminal_size=SIZE, run_before=settle)


def test_diff_view(snap_compare, config_dir):
    assert snap_compare(recorded_app(config_dir), terminal_size=SIZE, press=["d"], run_before=settle)


def test_help_screen(snap_compare, config_dir):
    assert snap_compare(recorded_app(config_dir), terminal_size=SIZE, press=["question_mark"], run_before=settle)


def test_approval_panel(snap_compare, config_dir):
    app = recorded_app(config_dir, events_until_last_proposal())

    async def open_panel(pilot):
        await settle(pilot)
        model = pilot.app.model
        assert model.awaiting_decision is not None
        pending = model.awaiting_decision
        pilot.app.push_screen(ApprovalScreen(model, pending, by_rule=pending.proposed_val > model.current_val))
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=open_panel)
