"""Small text formats shared by the widgets (no Textual)."""

from __future__ import annotations


def score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def tokens(value: int) -> str:
    return f"{value / 1000:.1f}k" if value >= 10_000 else str(value)


def cost(value: float | None) -> str:
    """None is a price nobody knows: "unknown", as headless and the report say."""
    return "unknown" if value is None else f"${value:.4f}" if value < 1 else f"${value:.2f}"
