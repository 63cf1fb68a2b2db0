"""Views of saved sessions for people: the history of a run, its report, the list of sessions.

Everything here reads session logs and nothing writes to one; no Textual import.
"""
