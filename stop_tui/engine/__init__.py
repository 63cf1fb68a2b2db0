"""The engine: a library that runs STOP. It never imports Textual or the UI."""
