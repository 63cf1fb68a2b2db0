"""Runs llama.cpp's OpenAI-compatible server for `--model local` (a child of the engine).

`python -m stop_tui.engine.lm.local_server ARGS` is `python -m llama_cpp.server ARGS`, except
that it exits as soon as its stdin closes: the engine holds the other end of that pipe, so
when the engine ends in any way, SIGKILL included, the server ends too.
"""

from __future__ import annotations

import os
import runpy
import sys
import threading


def _exit_when_stdin_closes() -> None:
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except (OSError, ValueError):
        pass
    os._exit(0)


def main() -> None:
    threading.Thread(target=_exit_when_stdin_closes, name="parent-watch", daemon=True).start()
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
