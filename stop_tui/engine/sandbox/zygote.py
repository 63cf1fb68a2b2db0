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
import shutil
import signal
import socket
import sys
import tempfile
import time

from . import hardening, helpers, isolation, runtime
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
    # Once: the template root, the seccomp filter, the cgroup parent (see hardening.py).
    prepared = hardening.Hardening.prepare()
    # Supervisors are reaped automatically; nothing here waits for them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control.send(json.dumps({"op": "hello", "pid": os.getpid()}).encode())
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(control, 1 << 16, 3)
        except OSError:
            break
        if not message:
            break  # the engine closed the control socket: shut down
        spec = json.loads(message)
        uid = prepared.next_uid()
        pid = os.fork()
        if pid == 0:
            try:
                control.close()
                supervise(spec, fds, prepared, uid)
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"op": "spawned", "pid": pid}).encode())


class _Terminate(Exception):
    pass


def _raise_terminate(_signum, _frame):
    raise _Terminate


def supervise(spec: dict, fds: list[int], prepared: hardening.Hardening, uid: int) -> None:
    """fds: the child's channel, the supervisor's own report socket (the child never holds it,
    so it cannot forge the exit report), and the output memfd the engine reads the tail of."""
    channel_fd, report_fd, output_fd = fds
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, _raise_terminate)  # the engine's polite "kill this run"
    limits = SandboxLimits.from_dict(spec["limits"])
    # If the engine dies, the fork server dies (its own death signal), then this supervisor,
    # then the child (its death signal) and with it the child's whole PID namespace.
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()
    isolation.prctl(isolation.PR_SET_CHILD_SUBREAPER, 1)  # orphans stay ours to kill
    isolate = spec.get("isolate", True)
    report: dict = {"op": "exit", "violations": []}
    cgroup = scratch = watch = None
    isolated: list[str] = []
    started = time.monotonic()
    try:
        if isolate:
            isolated = isolation.enter_namespaces(mount=prepared.root is None)
        if isolated and prepared.cgroups is not None:
            cgroup = prepared.cgroups.create(limits)
        if not isolated or prepared.root is None:
            # On disk, for the fallbacks only; relative: the zygote's /tmp may be its own tmpfs.
            scratch = tempfile.mkdtemp(prefix="run-", dir=".")
        setup_ours, setup_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                setup_ours.close()
                os.close(report_fd)
                _child(spec, limits, channel_fd, output_fd, isolated, prepared, uid, cgroup, setup_theirs, scratch)
                os._exit(0)
            except BaseException as exc:  # noqa: BLE001 - fail closed: the program never runs
                try:
                    os.write(output_fd, f"sandbox setup failed: {type(exc).__name__}: {exc}\n".encode())
                finally:
                    os._exit(72)
            finally:
                os._exit(71)
        setup_theirs.close()
        try:
            message, notify_fds, _flags, _addr = socket.recv_fds(setup_ours, 1 << 16, 1)
        except _Terminate:
            message, notify_fds = b"", []
            _kill_tree(pid)
        setup_ours.close()
        if message:
            report["isolation"] = isolated + json.loads(message) + prepared.notes
        if notify_fds:
            watch = hardening.SyscallWatch(notify_fds[0])
        status, timed_out, terminated = _wait(pid, limits.wall_s, watch)
        report.update(timed_out=timed_out, terminated=terminated)
        if not isolated:
            # Without a PID namespace the kernel will not kill the tree for us.
            isolation.kill_descendants(os.getpid())
        if status is not None:
            if os.WIFSIGNALED(status):
                report["signal"] = os.WTERMSIG(status)
            else:
                report["exit_code"] = os.WEXITSTATUS(status)
        if watch is not None:
            report["violations"] += [v.to_dict() for v in watch.violations()]
        if cgroup is not None:
            cgroup.kill_and_remove()
            report["violations"] += [v.to_dict() for v in cgroup.violations(limits)]
    except _Terminate:
        report["terminated"] = True
    except Exception as exc:  # noqa: BLE001 - the sandbox itself failed: say so, run nothing
        report["error"] = f"sandbox setup failed: {type(exc).__name__}: {exc}"
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if cgroup is not None:
            cgroup.kill_and_remove()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    report["wall_s"] = time.monotonic() - started
    try:
        os.write(report_fd, encode(report))
    except OSError:
        pass
    os._exit(0)


def _wait(pid: int, wall_s: float, watch: hardening.SyscallWatch | None) -> tuple[int | None, bool, bool]:
    """Wait for the child, answering its refused system calls; on timeout or SIGTERM kill it.
    Returns (status, timed_out, terminated)."""
    deadline = time.monotonic() + wall_s
    timed_out = terminated = False
    try:
        pidfd = os.pidfd_open(pid)
        watched = [pidfd] + ([watch.fd] if watch is not None else [])
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            ready = select.select(watched, [], [], remaining)[0]
            if pidfd in ready:
                break
            if ready:
                watch.handle()
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


def _child(spec: dict, limits: SandboxLimits, channel_fd: int, output_fd: int, isolated: list[str],
           prepared: hardening.Hardening, uid: int, cgroup, setup: socket.socket, scratch: str | None) -> None:
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    applied: list[str] = []
    listener = None
    if isolated:
        if prepared.root is None:
            applied += isolation.lock_filesystem(os.path.abspath(scratch))
        more, listener = prepared.setup_child(limits, uid, cgroup)
        applied += more
    else:
        os.setpgid(0, 0)  # so the supervisor can kill the group at once
    if scratch is not None:
        os.chdir(scratch)
        os.environ["HOME"] = os.environ["TMPDIR"] = scratch
    else:
        os.environ["HOME"] = os.environ["TMPDIR"] = "/tmp"
    # The supervisor learns what took effect (and gets the seccomp listener) before the program runs.
    socket.send_fds(setup, [json.dumps(applied).encode()], [listener] if listener is not None else [])
    if listener is not None:
        os.close(listener)
    setup.close()
    _redirect_output(output_fd)
    _close_fds_except(channel_fd)
    isolation.apply_rlimits(limits)
    runtime.serve(socket.socket(fileno=channel_fd), isolated + applied)


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


def _redirect_output(output_fd: int) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)


if __name__ == "__main__":
    main()
