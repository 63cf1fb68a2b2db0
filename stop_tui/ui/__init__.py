"""The Textual app: renders a run's events (live or recorded) and drives the engine's controls."""
