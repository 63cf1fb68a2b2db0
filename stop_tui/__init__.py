"""stop-tui: run and watch STOP recursive self-improvement of code."""

__version__ = "0.1.0"
