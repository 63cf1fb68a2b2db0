"""The diff between any two improver versions (default: current vs proposed)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Select, Static

from .. import diffs
from ..model import RunModel

AUTO = "__auto__"


class DiffView(Vertical):
    DEFAULT_CSS = """
    DiffView > Horizontal { height: auto; }
    DiffView Select { width: 1fr; }
    DiffView Label { padding: 1 1 0 1; }
    DiffView > VerticalScroll { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.side_by_side = False
        self._model: RunModel | None = None
        self._versions: list[tuple[str, str]] = []
        self._shown: tuple | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("from")
            yield Select([("default", AUTO)], value=AUTO, allow_blank=False, id="diff-from")
            yield Label("to")
            yield Select([("default", AUTO)], value=AUTO, allow_blank=False, id="diff-to")
        with VerticalScroll():
            yield Static(id="diff-body")

    def on_mount(self) -> None:
        self.old_picker = self.query_one("#diff-from", Select)
        self.new_picker = self.query_one("#diff-to", Select)
        self.body = self.query_one("#diff-body", Static)

    def reset(self) -> None:
        self._versions, self._shown = [], None

    def show(self, model: RunModel) -> None:
        self._model = model
        versions = model.improver_versions()
        if versions != self._versions:
            self._versions = versions
            options = [("default (current vs proposed)", AUTO)] + versions
            for select in (self.old_picker, self.new_picker):
                keep = select.value
                with self.prevent(Select.Changed):
                    select.set_options(options)
                    select.value = keep if keep in {v for _, v in options} else AUTO
        self._render_diff()

    def pair(self) -> tuple[str | None, str | None]:
        """The shas being compared now."""
        model = self._model
        if model is None:
            return None, None
        default_old, default_new = model.default_diff_pair()
        old, new = self.old_picker.value, self.new_picker.value
        return (default_old if old == AUTO else str(old)), (default_new if new == AUTO else str(new))

    def choose(self, old_sha: str, new_sha: str) -> None:
        self.old_picker.value, self.new_picker.value = old_sha, new_sha

    def toggle_side_by_side(self) -> None:
        self.side_by_side = not self.side_by_side
        self._render_diff()

    @on(Select.Changed)
    def _picked(self) -> None:
        self._render_diff()

    def _render_diff(self) -> None:
        model = self._model
        if model is None:
            return
        old, new = self.pair()
        key = (old, new, self.side_by_side, old in model.programs, new in model.programs)
        if key == self._shown:
            return
        self._shown = key
        body = self.body
        self.border_title = f"diff {(old or '-')[:8]} -> {(new or '-')[:8]}" + ("  (side by side)" if self.side_by_side else "")
        if not old or not new or old not in model.programs or new not in model.programs:
            body.update("Nothing to compare yet: the run has one improver so far.")
        elif self.side_by_side:
            body.update(diffs.side_by_side(model.programs[old], model.programs[new], old[:8], new[:8]))
        else:
            body.update(diffs.unified(model.diff(old, new)))
