"""The `stop-tui` command line: parses arguments and hands them to a command module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rich.console import Console

from . import __version__
from .commands import COMMAND_MODULES
from .commands.common import EXIT_USAGE, UsageError
from .engine.lm.models import ModelError
from .engine.sandbox.pool import SandboxError
from .engine.session import SessionError
from .engine.tasks import TaskError

# Output to a pipe or file has no terminal to fit: Rich would squeeze it to 80 columns and cut
# the very values a user copies (session names, scores). Wide enough for any table we print.
PIPE_WIDTH = 400

# Errors whose message is already one sentence for a user.
USER_ERRORS = (UsageError, TaskError, SessionError, ModelError, SandboxError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one sentence, exit 2, no usage dump
        raise UsageError(message[0].upper() + message[1:] + f" (see {self.prog} --help)")


class _HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default, where it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or not action.option_strings or default in (None, False, [], argparse.SUPPRESS)
                or "default" in text):
            return text
        return f"{text} (default: %(default)s)".lstrip()


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = _Parser(prog="stop-tui", description="Run and watch STOP recursive self-improvement of code.")
    parser.add_argument("--version", action="version", version=f"stop-tui {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands = {}
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(f".commands.{module_name}", __package__)
        module.add_arguments(subparsers.add_parser(module.NAME, help=module.HELP, formatter_class=_HelpWithDefaults))
        commands[module.NAME] = module
    return parser, commands


def console_for(stream) -> Console:
    """A console for stdout or stderr: the terminal's width, or PIPE_WIDTH when it is not a
    terminal (unless COLUMNS says otherwise)."""
    stderr = stream is sys.stderr
    is_terminal = hasattr(stream, "isatty") and stream.isatty()
    if is_terminal or os.environ.get("COLUMNS"):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH)


def main(argv: list[str] | None = None) -> int:
    console = console_for(sys.stdout)
    errors = console_for(sys.stderr)
    try:
        parser, commands = build_parser()
        args = parser.parse_args(argv)
        return commands[args.command].run(args, console)
    except USER_ERRORS as exc:
        errors.print(f"stop-tui: {exc}", markup=False, highlight=False, soft_wrap=True)  # one line, whatever the width
        return EXIT_USAGE
    except KeyboardInterrupt:
        errors.print("stop-tui: interrupted; everything completed is in the session log.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
