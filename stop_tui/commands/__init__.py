"""The `stop-tui` subcommands, one module each.

Each module defines NAME, HELP, add_arguments(parser) and run(args, console) -> int; the
command line (stop_tui.cli) registers the modules listed in COMMAND_MODULES, in that order.
"""

COMMAND_MODULES = ["run", "resume", "demo", "eval", "tasks", "transfer", "replay", "export", "report", "sessions", "study"]
