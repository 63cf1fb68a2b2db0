"""The fork server: a preloaded interpreter that forks one supervised child per sandbox run.

Starting a fresh Python and importing NumPy costs ~130 ms; forking this process, which already
holds NumPy and the child runtime, costs about a millisecond. Run as
`python -m stop_tui.engine.sandbox.zygote FD`, with FD a SOCK_SEQPACKET control socket.

Process tree of one run (all trusted code until the last step):

    zygote --fork--> supervisor --fork--> child (untrusted program runs here)

The zygote keeps one spare supervisor forked ahead of the next run: it has already joined its
run's cgroup, entered fresh PID, network, IPC, UTS and mount namespaces and pivoted into the
minimal root (hardening.py), the slow steps. Given a run, it writes the run's limits, forks the
child, answers the child's refused system calls (seccomp user notification), enforces the
wall-clock limit, kills the child's whole process tree and reports how the child ended and what
it was refused, on a socket of its own the child never holds. The child mounts its scratch and
/proc, drops every privilege, loads the filter, applies the rlimits and runs the program
(runtime.py).
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
    cpu_clock = prepared.cgroups.cpu_clock() if prepared.cgroups is not None else None
    control.send(json.dumps({"op": "hello", "pid": os.getpid(), "cpu_clock": cpu_clock}).encode())
    spare = _start_spare(control, prepared)
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(control, 1 << 16, 3)
        except OSError:
            break
        if not message:
            break  # the engine closed the control socket: shut down
        spec = json.loads(message)
        pid = None
        if spare is not None and spec.get("isolate", True):
            # The spare already sits in its cgroup, namespaces and root: hand it the run.
            spare_pid, spare_sock = spare
            try:
                socket.send_fds(spare_sock, [message], fds)
                pid = spare_pid
            except OSError:
                pass  # it died: start this run the slow way
            spare_sock.close()
            spare = None
        if pid is None:
            uid = prepared.next_uid()
            pid = os.fork()
            if pid == 0:
                try:
                    control.close()
                    supervise(spec, fds, prepared, uid, None)
                finally:
                    os._exit(70)
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"op": "spawned", "pid": pid}).encode())
        if spare is None and spec.get("isolate", True):
            spare = _start_spare(control, prepared)
    if spare is not None:  # let it remove its cgroup before this process, its parent, is gone
        spare[1].close()
        try:
            os.waitpid(spare[0], 0)
        except ChildProcessError:
            pass  # already reaped (SIGCHLD is ignored here)
    if prepared.cgroups is not None:
        prepared.cgroups.remove()


def _start_spare(control: socket.socket, prepared: hardening.Hardening):
    """Fork the next run's supervisor now, so that what costs time and depends on no run
    (joining a cgroup, new namespaces, entering the root) is done before a run is asked for."""
    if prepared.root is None:
        return None
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    uid = prepared.next_uid()
    pid = os.fork()
    if pid == 0:
        try:
            control.close()
            ours.close()
            ready = _prepare_supervisor(prepared, isolate=True)
            message, fds, _flags, _addr = socket.recv_fds(theirs, 1 << 16, 3)
            if not message:  # the fork server shut down
                if ready[1] is not None:
                    ready[1].leave_and_remove()
                os._exit(0)
            theirs.close()
            supervise(json.loads(message), fds, prepared, uid, ready)
        finally:
            os._exit(70)
    theirs.close()
    return pid, ours


def _prepare_supervisor(prepared: hardening.Hardening, isolate: bool):
    """In a supervisor: its own session, death signal, cgroup, namespaces and root.
    Returns (namespaces entered, cgroup or None, error or None)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # If the engine dies, the fork server dies (its own death signal), then this supervisor,
    # then the child (its death signal) and with it the child's whole PID namespace.
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()
    isolation.prctl(isolation.PR_SET_CHILD_SUBREAPER, 1)  # orphans stay ours to kill
    isolated: list[str] = []
    cgroup = None
    try:
        if isolate:
            isolated = isolation.enter_namespaces(mount=prepared.root is None)
        if isolated and prepared.cgroups is not None:
            cgroup = prepared.cgroups.create()
            _shield_from_oom_killer()
            cgroup.join()  # the child is forked inside; a migration is slow, so do it now
        if isolated and prepared.root is not None:
            hardening.enter_root(prepared.root, detach=prepared.initial_user_namespace)
    except Exception as exc:  # noqa: BLE001 - reported, and the run does not start
        detail = f"sandbox setup failed: {type(exc).__name__}: {exc}"
        if os.environ.get("STOP_TUI_SANDBOX_DEBUG"):
            import traceback
            detail += traceback.format_exc() + repr(isolated)
        return isolated, cgroup, detail
    return isolated, cgroup, None


def _shield_from_oom_killer() -> None:
    """The supervisor sits in its run's cgroup: the OOM killer should pick the program (it
    would anyway: it picks the largest, and the supervisor is the smallest). Some containers
    refuse a lower score even to root; then that ordering is all there is."""
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("-1000")
    except OSError:
        pass


class _Terminate(Exception):
    pass


def _raise_terminate(_signum, _frame):
    raise _Terminate


def supervise(spec: dict, fds: list[int], prepared: hardening.Hardening, uid: int, ready) -> None:
    """fds: the child's channel, the supervisor's own report socket (the child never holds it,
    so it cannot forge the exit report), and the output memfd the engine reads the tail of.
    ready: what _prepare_supervisor did ahead of time (a spare), or None."""
    channel_fd, report_fd, output_fd = fds
    signal.signal(signal.SIGTERM, _raise_terminate)  # the engine's polite "kill this run"
    started = time.monotonic()
    limits = SandboxLimits.from_dict(spec["limits"])
    report: dict = {"op": "exit", "violations": []}
    scratch = watch = None
    isolated, cgroup, error = ready or _prepare_supervisor(prepared, spec.get("isolate", True))
    try:
        if error:
            raise OSError(error)
        if cgroup is not None:
            cgroup.limit(limits, extra_processes=1)  # the supervisor is in it too
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
                    import traceback
                    os.write(output_fd, f"sandbox setup failed: {type(exc).__name__}: {exc}\n".encode())
                    os.write(output_fd, traceback.format_exc().encode()) if os.environ.get("STOP_TUI_SANDBOX_DEBUG") else None
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
    except _Terminate:
        report["terminated"] = True
    except Exception as exc:  # noqa: BLE001 - the sandbox itself failed: say so, run nothing
        report["error"] = str(exc) if str(exc).startswith("sandbox setup failed") else \
            f"sandbox setup failed: {type(exc).__name__}: {exc}"
        if os.environ.get("STOP_TUI_SANDBOX_DEBUG"):
            import traceback
            report["error"] += traceback.format_exc()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Gathered here, past every way the wait can end: a SIGTERM that arrives as the child exits
    # on its own (the engine stops a run that returned) must not cost the record of what it tried.
    try:
        if watch is not None:
            report["violations"] += [v.to_dict() for v in watch.violations()]
        if cgroup is not None:
            report["violations"] += [v.to_dict() for v in cgroup.violations(limits)]
        if isolated and prepared.root is not None and report.get("error") is None:
            # The child mounted its scratch in this (shared, pivoted) namespace: was it filled?
            report["violations"] += [v.to_dict() for v in hardening.scratch_violations(limits)]
    except Exception as exc:  # noqa: BLE001 - the report goes out whatever a reading did
        report.setdefault("error", f"sandbox report incomplete: {type(exc).__name__}: {exc}")
    report["wall_s"] = time.monotonic() - started
    try:
        os.write(report_fd, encode(report))
        os.close(report_fd)
    except OSError:
        pass
    # After the report, so the engine does not wait for it: leaving a cgroup is slow.
    if cgroup is not None:
        cgroup.leave_and_remove()
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
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
    # From here on a SIGTERM changes nothing: the child is ending or has ended, and the report
    # (what it tried included) still has to be written.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if timed_out or terminated:
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
    if isolated and prepared.root is None:
        applied += isolation.lock_filesystem(os.path.abspath(scratch))
    if not isolated:
        os.setpgid(0, 0)  # so the supervisor can kill the group at once
        if spec.get("isolate", True):
            applied.append("namespaces: refused by the platform, process group only")
    if spec.get("isolate", True):  # even without namespaces: no privilege, the filter
        more, listener = prepared.setup_child(limits, uid, cgroup)
        applied += more
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
