"""The replay timeline: where the replay is, where generations start; click to seek."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Static

from .. import format as fmt


class Timeline(Static):
    DEFAULT_CSS = """
    Timeline { height: 2; background: $panel; padding: 0 1; }
    """

    def __init__(self, replay, **kwargs) -> None:
        super().__init__(**kwargs)
        self.replay = replay
        self._marks: list[int] | None = None
        self._shown: tuple | None = None

    def show(self) -> None:
        replay = self.replay
        total = max(1, len(replay))
        width = max(10, self.content_size.width)
        key = (replay.position, total, width, replay.speed, replay.playing)
        if key == self._shown:
            return
        self._shown = key
        if self._marks is None or len(replay) != self._marks_for:
            self._marks, self._marks_for = replay.generation_starts(), len(replay)
        filled = round(width * replay.position / total)
        marks = {min(width - 1, round(width * m / total)) for m in self._marks}
        bar = Text()
        accent = self.app.current_theme.accent or self.app.current_theme.primary
        for x in range(width):
            char = "┃" if x in marks else "━"
            bar.append(char, style=f"bold {accent}" if x < filled else "dim")
        times = replay.times
        start = times[0] if times else 0.0
        now = times[replay.position - 1] if replay.position else start
        end = times[-1] if times else start
        state = "▶" if replay.playing else "❚❚"
        bar.append(f"\n{state} {replay.speed:g}x  {fmt.seconds(now - start)} of {fmt.seconds(end - start)} recorded"
                   f"  event {replay.position:,}/{len(replay):,}  ┃ generation starts"
                   "  (click to seek; space play/pause, +/- speed, n step, g next generation, end, home)")
        self.update(bar)

    def on_click(self, event: events.Click) -> None:
        width = max(1, self.content_size.width)
        self.replay.seek_fraction(min(1.0, max(0.0, (event.x - 1) / width)))
        self.show()
