"""The fork server: a preloaded interpreter that forks one supervised child per sandbox run.

Starting a fresh Python and importing NumPy costs ~130 ms; forking this process, which already
holds NumPy and the child runtime, costs about a millisecond. Run as
`python -m stop_tui.engine.sandbox.zygote FD`, with FD a SOCK_SEQPACKET control socket.

Process tree of one run (all trusted code until the last step):

    zygote --fork--> supervisor --fork--> child (untrusted program runs here)

The supervisor enters fresh namespaces, enforces the wall-clock limit, kills the child's whole
process tree and reports how the child ended. The child locks down the filesystem, applies the
rlimits and runs the program (runtime.py).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time

from . import helpers, isolation, runtime
from .limits import SandboxLimits
from .protocol import encode

# Loaded once here so every forked child has them for free.
# numpy.random too: `import numpy` no longer loads it, and the per-call seeding would then
# import it inside the timed window of every child's first call (~60 ms of a 0.1 s limit).
PRELOAD = ("numpy", "numpy.random", "random", "math", "itertools", "collections", "functools", "heapq", "json",
           "concurrent.futures", "threading", "statistics", "copy", "re", "time")


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the engine
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    sys.modules["helpers"] = helpers
    # Supervisors are reaped automatically; nothing here waits for them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control.send(json.dumps({"op": "hello", "pid": os.getpid()}).encode())
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(control, 1 << 16, 1)
        except OSError:
            break
        if not message:
            break  # the engine closed the control socket: shut down
        spec = json.loads(message)
        channel_fd = fds[0]
        pid = os.fork()
        if pid == 0:
            try:
                control.close()
                supervise(spec, channel_fd)
            finally:
                os._exit(70)
        os.close(channel_fd)
        control.send(json.dumps({"op": "spawned", "pid": pid}).encode())


class _Terminate(Exception):
    pass


def _raise_terminate(_signum, _frame):
    raise _Terminate


def supervise(spec: dict, channel_fd: int) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, _raise_terminate)  # the engine's polite "kill this run"
    limits = SandboxLimits.from_dict(spec["limits"])
    # If the engine dies, the fork server dies (its own death signal), then this supervisor,
    # then the child (its death signal) and with it the child's whole PID namespace.
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()
    isolation.prctl(isolation.PR_SET_CHILD_SUBREAPER, 1)  # orphans stay ours to kill
    isolated = isolation.enter_namespaces() if spec.get("isolate", True) else []
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            _child(spec, limits, channel_fd, isolated)
            os._exit(0)
        finally:
            os._exit(71)
    status, timed_out, terminated = _wait(pid, limits.wall_s)
    if not isolated:
        # Without a PID namespace the kernel will not kill the tree for us.
        isolation.kill_descendants(os.getpid())
    report = {"op": "exit", "timed_out": timed_out, "terminated": terminated,
              "wall_s": time.monotonic() - started}
    if status is not None:
        if os.WIFSIGNALED(status):
            report["signal"] = os.WTERMSIG(status)
        else:
            report["exit_code"] = os.WEXITSTATUS(status)
    try:
        os.write(channel_fd, encode(report))
    except OSError:
        pass
    os._exit(0)


def _wait(pid: int, wall_s: float) -> tuple[int | None, bool, bool]:
    """Wait for the child; on timeout or SIGTERM kill it. Returns (status, timed_out, terminated)."""
    deadline = time.monotonic() + wall_s
    timed_out = terminated = False
    try:
        pidfd = os.pidfd_open(pid)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if select.select([pidfd], [], [], remaining)[0]:
                break
    except _Terminate:
        terminated = True
    if timed_out or terminated:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _kill_tree(pid)
    _, status = os.waitpid(pid, 0)
    return status, timed_out, terminated


def _kill_tree(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except OSError:
            pass


def _child(spec: dict, limits: SandboxLimits, channel_fd: int, isolated: list[str]) -> None:
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    scratch = spec["scratch"]
    if isolated:
        isolated = isolated + isolation.lock_filesystem(scratch)
    else:
        os.setpgid(0, 0)  # so the supervisor can kill the group at once
    os.chdir(scratch)
    _redirect_output(os.path.join(scratch, "output.log"))
    _close_fds_except(channel_fd)
    os.environ["HOME"] = os.environ["TMPDIR"] = scratch
    isolation.apply_rlimits(limits)
    runtime.serve(socket.socket(fileno=channel_fd), isolated)


def _close_fds_except(keep: int) -> None:
    """Close every inherited descriptor but stdio and the channel (listing them is much
    cheaper than closing the whole descriptor range one by one)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd != keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the descriptor of the listing itself, already closed


def _redirect_output(log_path: str) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


if __name__ == "__main__":
    main()
