"""Engine side of the sandbox: starts the fork server and runs programs through it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..instance_secret import keyed_seed
from .limits import SandboxLimits, sandbox_environment
from .protocol import (
    DEFAULT_LIMITS, HEADER, MAX_FRAME, ProtocolError, ProtocolLimits, check_fields, check_size, decode, encode,
)
from .violations import PROTOCOL, Violation

LOAD_TIMEOUT_S = 10.0  # module-level code of a program must finish within this
EXIT_GRACE_S = 2.0  # how long after its deadline a supervisor may take to report
# Per-call limits count the child's CPU time (its run's cgroup, read from outside the run), so
# a call's score does not depend on what else the machine runs. A call that sleeps or blocks
# uses no CPU: it is stopped by a wall-clock backstop of BACKSTOP_FACTOR x the limit + BACKSTOP_EXTRA_S.
BACKSTOP_FACTOR = 5.0
BACKSTOP_EXTRA_S = 1.0
POLL_MIN_S = 0.002  # the CPU clock is re-read at most this often while a call runs...
POLL_MAX_S = 0.25  # ...and at least this often (a multi-threaded call can use CPU faster than wall time)
# An improver's wall-clock limit is the engine's to enforce (its deadline moves by the time the
# run's LM requests were held by a pause or queue); its supervisor's limit is only a backstop
# for an engine that no longer watches, so a pause of up to this long ends no run.
IMPROVER_BACKSTOP_EXTRA_S = 24 * 3600.0


def backstop_s(per_call_s: float) -> float:
    """The wall-clock time a call may take however little CPU it uses."""
    return BACKSTOP_FACTOR * per_call_s + BACKSTOP_EXTRA_S
OUTPUT_TAIL_BYTES = 600

SIGNAL_REASONS = {
    signal.SIGXCPU: "exceeded its CPU time limit",
    signal.SIGXFSZ: "exceeded the file size limit (output or files too large)",
    signal.SIGSEGV: "crashed (segmentation fault)",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "crashed (bus error)",
}


class SandboxError(Exception):
    """The sandbox itself could not run (not a failure of the program in it)."""


@dataclass
class ChildExit:
    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    terminated: bool = False
    # From the supervisor's report (never from the child): what the kernel refused or capped,
    # what protections took effect, and why the sandbox itself failed, if it did.
    violations: list[Violation] = field(default_factory=list)
    isolation: list[str] | None = None
    error: str | None = None

    def describe(self, wall_s: float) -> str:
        if self.error:
            return self.error
        if self.timed_out:
            return f"killed after the {wall_s:g} s wall-clock limit"
        if self.terminated:
            return "stopped by the engine"
        if self.signal is not None:
            if self.signal == signal.SIGKILL:
                return "killed (SIGKILL: CPU or memory limit)"
            return SIGNAL_REASONS.get(self.signal, f"killed by signal {self.signal}")
        return f"exited with code {self.exit_code} before finishing"


@dataclass
class CallResult:
    """One call of a solution on one instance: plain-data output or why there is none."""

    ok: bool
    value: Any = None
    error: str | None = None
    elapsed_s: float = 0.0


@dataclass
class ImproverOutcome:
    result: str | None
    error: str | None
    duration_s: float
    isolation: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)


@dataclass
class ImproverJob:
    source: str
    initial_solution: str
    lm_budget: int
    max_responses_per_call: int
    utility_budget: int
    utility_description: str
    limits: SandboxLimits


class ImproverHandler:
    """What an improver's proxied calls do in the engine. Budget checks live here, not in the child."""

    async def lm(self, expertise: str, messages: list[str], temperature: float) -> list[str]:
        raise NotImplementedError

    async def utility(self, program: str) -> tuple[float, int]:
        """Score a program; returns (utility, uses so far)."""
        raise NotImplementedError

    def held_s(self) -> float:
        """Seconds the run's requests were held by the engine (a pause, the gateway's queue):
        its wall-clock limit does not count them."""
        return 0.0


class RefusedError(Exception):
    """A request refused by the engine (over budget); its message goes back to the child.

    counts: the refusal is the program's doing (it asked past its budget, or for too much) and
    counts toward ProtocolLimits.max_refusals; a run budget the engine spent does not.
    score: a utility call past its budget is answered with this score (0, as the reference
    does) rather than an error; such calls count toward ProtocolLimits.max_zero_scores.
    """

    def __init__(self, message: str, *, counts: bool = True, score: float | None = None,
                 uses: int | None = None) -> None:
        super().__init__(message)
        self.counts, self.score, self.uses = counts, score, uses


class _Channel:
    """One run's socket, on the event loop, with its supervisor's own report socket (the child
    never holds that one, so it cannot forge how it ended or hide a violation) and the memfd
    its output goes to.

    Frames are checked against max_frame on their header, before the body is read; a large
    body is parsed in the decoder thread, so parsing it does not hold up the event loop that
    times every other run's calls. After a ProtocolError the stream is out of step (the next
    header could be anywhere): the channel is broken, and recv only drains it to its end.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pid: int,
                 report: asyncio.Future, report_writer: asyncio.StreamWriter, output_fd: int,
                 limits: ProtocolLimits = DEFAULT_LIMITS, decoder: ThreadPoolExecutor | None = None):
        self.reader, self.writer, self.pid, self.output_fd = reader, writer, pid, output_fd
        self._report, self._report_writer = report, report_writer
        self.limits, self.decoder = limits, decoder
        self.max_frame = limits.reply_frame_bytes
        self.broken = False

    async def exit_report(self, timeout_s: float) -> ChildExit | None:
        """How the child ended, as its supervisor saw it; None if no report came in time."""
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.shield(self._report)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ProtocolError, OSError, ValueError):
            return None  # the supervisor died without a word (or said something malformed)

    async def recv(self) -> dict[str, Any] | None:
        if self.broken:  # out of step: read to the end without parsing anything
            try:
                while await self.reader.read(1 << 16):
                    pass
            except ConnectionError:
                pass
            return None
        try:
            header = await self.reader.readexactly(HEADER.size)
            (size,) = HEADER.unpack(header)
            check_size(size, self.max_frame)
            body = await self.reader.readexactly(size)
            if size <= self.limits.inline_decode_bytes or self.decoder is None:
                return decode(body, self.limits)
            return await asyncio.get_running_loop().run_in_executor(self.decoder, decode, body, self.limits)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        except ProtocolError:
            self.broken = True
            raise

    def send(self, message: dict[str, Any]) -> None:
        self.writer.write(encode(message))

    def output_tail(self) -> str:
        try:
            size = os.fstat(self.output_fd).st_size
            tail = os.pread(self.output_fd, OUTPUT_TAIL_BYTES, max(0, size - OUTPUT_TAIL_BYTES))
            return tail.decode(errors="replace").strip()
        except OSError:
            return ""


async def _read_report(reader: asyncio.StreamReader) -> ChildExit:
    header = await reader.readexactly(HEADER.size)
    (size,) = HEADER.unpack(header)
    if size > 1 << 20:
        raise ProtocolError("oversized supervisor report")
    return _exit_from(decode(await reader.readexactly(size)))


class SandboxPool:
    """Runs programs in sandboxed children forked from one preloaded fork server.

    solution_slots bounds CPU-bound solution runs; improver_slots bounds improver runs that
    are scored by the meta-utility. The top-level improvement step takes no slot, so nested
    runs can always make progress (no deadlock).
    """

    def __init__(self, *, solution_slots: int | None = None, improver_slots: int = 16, isolate: bool = True,
                 protocol_limits: ProtocolLimits | None = None, seed_secret: bytes | None = None):
        self.protocol_limits = protocol_limits or DEFAULT_LIMITS
        # Per-instance seeds reach a child only as HMAC(secret, seed): a program that knows the
        # scorer's code still cannot regenerate the hidden instance from what it receives.
        self._seed_secret = seed_secret  # None: the engine's (instance_secret.py)
        # Large frames from children are parsed here, off the event loop that times every call.
        self._decoder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-decode")
        self._solution_slots = asyncio.Semaphore(solution_slots or max(1, os.cpu_count() or 1))
        self.improver_slots = asyncio.Semaphore(improver_slots)
        self._isolate = isolate
        self._control: socket.socket | None = None
        self._control_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawn")
        self._process: asyncio.subprocess.Process | None = None
        self._root = Path(tempfile.mkdtemp(prefix="stop-tui-sandbox-"))
        self._live: set[int] = set()
        self.spawned = 0
        self.isolation: list[str] = []
        self._cpu_clock: dict[str, Any] | None = None  # where runs' CPU time is read (the fork server's hello)

    async def __aenter__(self) -> SandboxPool:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = sandbox_environment()
        # The fork server imports this package from wherever the engine found it.
        package_root = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        errors_path = self._root / "fork-server.log"
        with open(errors_path, "wb") as errors:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "stop_tui.engine.sandbox.zygote", str(child.fileno()),
                pass_fds=[child.fileno()], env=env, start_new_session=True,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=errors, cwd=self._root,
            )
        child.close()
        parent.settimeout(30)
        self._control = parent
        loop = asyncio.get_running_loop()
        try:
            hello = await loop.run_in_executor(self._executor, parent.recv, 4096)
        except OSError as exc:
            raise SandboxError(f"the sandbox fork server did not start: {exc}") from None
        if not hello:
            detail = errors_path.read_text(errors="replace").strip().splitlines()
            raise SandboxError(f"the sandbox fork server exited at start: {detail[-1] if detail else 'no output'}")
        try:
            clock = json.loads(hello).get("cpu_clock")
            self._cpu_clock = clock if isinstance(clock, dict) else None
        except (ValueError, AttributeError):
            self._cpu_clock = None
        self.isolation = await self._probe_isolation()

    async def _probe_isolation(self) -> list[str]:
        results = await self.run_solution("def f():\n    return 0\n", "f", [[]], per_call_s=5.0)
        if results.load_error:
            raise SandboxError(f"the sandbox cannot run programs: {results.load_error}")
        return results.isolation

    def child_seed(self, seed: int) -> int:
        """The seed a child gets for an instance seed: keyed by a secret the child never sees."""
        return keyed_seed(seed, "call", self._seed_secret)

    async def close(self) -> None:
        for pid in list(self._live):
            _kill(pid, signal.SIGKILL)
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except asyncio.TimeoutError:
                self._process.kill()
            self._process = None
        self._executor.shutdown(wait=False)
        self._decoder.shutdown(wait=False)
        shutil.rmtree(self._root, ignore_errors=True)

    # --- spawning -----------------------------------------------------------------------

    def _spawn_sync(self, spec: dict[str, Any], fds: list[int]) -> int:
        if self._control is None:  # closed (a run stopped at once) or never started
            raise SandboxError("the sandbox pool is not running")
        with self._control_lock:
            socket.send_fds(self._control, [json.dumps(spec).encode()], fds)
            reply = self._control.recv(4096)
        if not reply:
            raise SandboxError("the sandbox fork server has exited")
        return int(json.loads(reply)["pid"])

    async def _spawn(self, limits: SandboxLimits) -> _Channel:
        ours, theirs = socket.socketpair()
        report_ours, report_theirs = socket.socketpair()
        # The child's stdout and stderr: in memory, gone with the run (no file left on disk).
        output_fd = os.memfd_create("sandbox-output", os.MFD_CLOEXEC)
        spec = {"limits": limits.to_dict(), "isolate": self._isolate}
        loop = asyncio.get_running_loop()
        try:
            pid = await loop.run_in_executor(
                self._executor, self._spawn_sync, spec, [theirs.fileno(), report_theirs.fileno(), output_fd])
        except BaseException:
            for sock in (ours, report_ours):
                sock.close()
            os.close(output_fd)
            raise
        finally:
            theirs.close()
            report_theirs.close()
        self.spawned += 1
        self._live.add(pid)
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=MAX_FRAME)
        report_reader, report_writer = await asyncio.open_unix_connection(sock=report_ours)
        report = asyncio.ensure_future(_read_report(report_reader))
        return _Channel(reader, writer, pid, report, report_writer, output_fd, self.protocol_limits, self._decoder)

    async def _finish(self, channel: _Channel, *, kill: bool) -> ChildExit:
        """Make sure the run is over; return how the child ended."""
        if kill:
            _kill(channel.pid, signal.SIGTERM)
        channel.writer.close()  # a child still reading its channel sees the end and stops
        exit_report = await channel.exit_report(EXIT_GRACE_S + 1)
        if exit_report is None:
            _kill(channel.pid, signal.SIGKILL)
            channel._report.cancel()
            exit_report = ChildExit(error="the sandbox supervisor did not report")
        channel._report_writer.close()
        self._live.discard(channel.pid)
        os.close(channel.output_fd)
        return exit_report

    # --- solutions ----------------------------------------------------------------------

    async def run_solution(
        self,
        source: str,
        entry: str,
        calls: list[list[Any]],
        *,
        seeds: list[int] | None = None,
        per_call_s: float,
        stop_after_timeout: bool = False,
        arg_types: list[str] | None = None,
        limits: SandboxLimits | None = None,
    ) -> SolutionRun:
        """Call `entry` of `source` once per argument list, each within per_call_s (timed here).

        per_call_s is CPU time of the child's run (all its processes), read from its cgroup
        outside the run where there is one, else wall-clock time; a call also stops at the
        wall-clock backstop (backstop_s) however little CPU it uses. CallResult.elapsed_s is the
        same clock: CPU seconds where measured.

        A call that times out or kills its child is a failure; the remaining calls go on in a
        fresh child. With stop_after_timeout, the first timeout fails the remaining calls too
        (as the reference's utility returns 0 on a timeout): a program that hangs once would
        otherwise cost the full limit (or the backstop) on every instance. With CPU-time limits
        that rule is fair: a timeout is the program's own doing, not a busy machine's.
        Never raises for anything the program does.
        """
        if seeds is not None:
            seeds = [self.child_seed(seed) if isinstance(seed, int) else None for seed in seeds]
        run = SolutionRun(results=[])
        async with self._solution_slots:
            while len(run.results) < len(calls):
                await self._solution_child(source, entry, calls, seeds, per_call_s, arg_types or [], limits, run)
                if len(run.results) >= len(calls):
                    break
                last = run.results[-1]
                if stop_after_timeout and not last.ok and (last.error or "").startswith("timed out"):
                    skipped = CallResult(ok=False, error="not run: an earlier instance timed out")
                    run.results.extend(skipped for _ in range(len(calls) - len(run.results)))
        return run

    async def _solution_child(self, source, entry, calls, seeds, per_call_s, arg_types, limits, run) -> None:
        remaining = len(calls) - len(run.results)
        wall = LOAD_TIMEOUT_S + backstop_s(per_call_s) * remaining + 1.0
        limits = (limits or SandboxLimits()).with_wall(wall)
        channel = await self._spawn(limits)
        kill = True
        try:
            channel.send({"op": "start", "mode": "solution", "source": source, "entry": entry,
                          "arg_types": arg_types, "filename": "<solution>"})
            kill = await self._solution_calls(channel, calls, seeds, per_call_s, limits, run) or channel.broken
        finally:
            ended = await self._finish(channel, kill=kill)
            run.violations.extend(ended.violations)
            if ended.isolation is not None:
                run.isolation = ended.isolation

    async def _solution_calls(self, channel, calls, seeds, per_call_s, limits, run) -> bool:
        """The calls one child answers; returns whether the child still needs killing."""
        remaining = len(calls) - len(run.results)
        loaded = False
        try:
            ready = await _recv_within(channel, LOAD_TIMEOUT_S)
            if ready is not None and ready is not _TIMED_OUT:
                check_fields(ready, ("ready", "load_error"))
            if ready is None or ready.get("op") != "ready":
                reason, kill = await self._why_no_reply(channel, ready, "loading the program", LOAD_TIMEOUT_S, limits)
                run.load_error = reason
                run.results.extend(CallResult(ok=False, error=reason) for _ in range(remaining))
                return kill
            loaded = True
            clock = self._clock_of(channel)
            for index in range(len(run.results), len(calls)):
                timer = _CallTimer(clock, per_call_s)
                channel.send({"op": "call", "args": calls[index], "seed": seeds[index] if seeds else None})
                reply = await timer.reply(channel)
                elapsed = timer.elapsed()
                if reply is _TIMED_OUT:
                    run.results.append(CallResult(ok=False, error=timer.why(), elapsed_s=elapsed))
                    return True  # the caller starts a fresh child
                if reply is not None:
                    check_fields(reply, ("return", "raise"))
                if reply is not None and reply.get("op") == "return":
                    run.results.append(CallResult(ok=True, value=reply.get("value"), elapsed_s=elapsed))
                elif reply is not None and reply.get("op") == "raise":
                    run.results.append(CallResult(ok=False, error=_first_line(reply.get("error")), elapsed_s=elapsed))
                else:
                    reason, kill = await self._why_no_reply(channel, reply, "the call", per_call_s, limits)
                    run.results.append(CallResult(ok=False, error=reason, elapsed_s=elapsed))
                    return kill  # the child is gone or killed: the caller starts a fresh one
            channel.send({"op": "stop"})
            return False
        except ProtocolError as exc:
            # The child broke the protocol: this call fails, and so do the rest (no fresh child
            # for a program that attacks the engine); the child is killed.
            channel.broken = True
            reason = f"protocol violation: {exc}"
            run.violations.append(Violation(kind=PROTOCOL, detail=str(exc)[:200]))
            if not run.results and run.load_error is None and not loaded:
                run.load_error = reason
            run.results.append(CallResult(ok=False, error=reason))
            skipped = CallResult(ok=False, error="not run: the program broke the sandbox protocol")
            run.results.extend(skipped for _ in range(len(calls) - len(run.results)))
            return True

    def _clock_of(self, channel: _Channel) -> _CpuClock | None:
        """The CPU clock of a run's cgroup, or None (no cgroup: limits are wall-clock)."""
        if self._cpu_clock is None:
            return None
        clock = _CpuClock(self._cpu_clock, channel.pid)
        return clock if clock.read() is not None else None

    @staticmethod
    async def _why_no_reply(channel: _Channel, reply: dict | None, what: str, timeout_s: float,
                            limits: SandboxLimits) -> tuple[str, bool]:
        """Why a call got no answer, and whether the child still needs killing."""
        if reply is _TIMED_OUT:
            return f"timed out: {what} took longer than {timeout_s:g} s", True
        op = reply.get("op") if reply is not None else None
        if op == "load_error":
            return _first_line(reply.get("error")), False
        if op is None:  # the channel closed: how the child ended is its supervisor's to say
            ended = await channel.exit_report(EXIT_GRACE_S)
            if ended is None:
                return _with_output("the program's process ended unexpectedly", channel.output_tail()), True
            return _with_output(ended.describe(limits.wall_s), channel.output_tail()), False
        return f"protocol violation during {what}: unexpected {str(op)[:40]!r} message", True

    # --- improvers ----------------------------------------------------------------------

    async def run_improver(self, job: ImproverJob, handler: ImproverHandler) -> ImproverOutcome:
        """Run improve_algorithm() in a child; serve its proxied LM and utility calls.

        Never raises for anything the program does: a malformed or oversized frame, or more
        refused requests than ProtocolLimits allows, ends the run as a protocol violation
        (outcome.error says so, outcome.violations has it) and kills the child.
        """
        started = time.monotonic()
        # The supervisor's wall limit: a backstop (see IMPROVER_BACKSTOP_EXTRA_S); the CPU rlimit
        # stays what job.limits.wall_s gives.
        backstop = replace(job.limits, wall_s=job.limits.wall_s + IMPROVER_BACKSTOP_EXTRA_S,
                           cpu_s=job.limits.cpu_seconds)
        channel = await self._spawn(backstop)
        channel.max_frame = self.protocol_limits.request_frame_bytes
        kill = True
        pending: set[asyncio.Task] = set()
        outcome = ImproverOutcome(result=None, error=None, duration_s=0.0)
        requests = _Requests(self.protocol_limits, asyncio.get_running_loop().create_future())
        receive: asyncio.Future | None = None
        try:
            channel.send({
                "op": "start", "mode": "improver", "source": job.source, "entry": "improve_algorithm",
                "filename": "<improver>", "initial_solution": job.initial_solution,
                "lm_budget": job.lm_budget, "max_responses_per_call": job.max_responses_per_call,
                "utility_budget": job.utility_budget, "utility_description": job.utility_description,
            })
            while True:
                receive = asyncio.ensure_future(channel.recv())
                timed_out = False
                while not receive.done() and not requests.ended.done():
                    # The deadline moves on by the time the run's requests were held (paused, queued).
                    left = started + job.limits.wall_s + handler.held_s() - time.monotonic()
                    if left <= 0:
                        timed_out = True
                        break
                    await asyncio.wait({receive, requests.ended}, timeout=min(left, 1.0),
                                       return_when=asyncio.FIRST_COMPLETED)
                if requests.ended.done():  # too many refused requests: the run ends here
                    raise ProtocolError(requests.ended.result())
                if timed_out:
                    outcome.error = f"killed after the {job.limits.wall_s:g} s wall-clock limit"
                    break
                message, receive = receive.result(), None
                if message is None:
                    ended = await channel.exit_report(EXIT_GRACE_S)
                    what = ended.describe(job.limits.wall_s) if ended else "the improver's process ended before returning"
                    outcome.error = _with_output(what, channel.output_tail())
                    kill = ended is None
                    break
                check_fields(message, ("ready", "lm", "utility", "result", "error", "load_error"))
                op = message["op"]
                if op == "ready":
                    pass  # which protections took effect is the supervisor's to report, not the child's
                elif op in ("lm", "utility"):
                    task = asyncio.create_task(self._serve_request(channel, handler, message, requests))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                elif op == "result":
                    outcome.result = message["value"]
                    break
                else:  # error, load_error
                    outcome.error = message["error"][-2000:]
                    break
        except ProtocolError as exc:
            channel.broken, kill = True, True
            outcome.result = None
            outcome.error = f"protocol violation: {exc}"
            outcome.violations.append(Violation(kind=PROTOCOL, detail=str(exc)[:200]))
        finally:
            if receive is not None and not receive.done():
                receive.cancel()
                channel.broken = True  # cut off mid-frame, perhaps
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, *([receive] if receive is not None else []), return_exceptions=True)
            ended = await self._finish(channel, kill=kill)
            outcome.violations.extend(ended.violations)
            if ended.isolation is not None:
                outcome.isolation = ended.isolation
        outcome.duration_s = time.monotonic() - started
        return outcome

    async def _serve_request(self, channel: _Channel, handler: ImproverHandler, message: dict,
                             requests: _Requests) -> None:
        if requests.ended.done():  # the run is over: answer nothing, ask nothing of the handler
            return
        request_id = message["id"]
        try:
            if message["op"] == "lm":
                messages = message["messages"]
                size = sum(len(m) for m in messages)
                if size > requests.limits.prompt_chars:  # refused before it is logged or sent to the LM
                    raise RefusedError(f"prompt of {size:,} characters, over the "
                                       f"{requests.limits.prompt_chars:,}-character limit: not sent")
                value = await handler.lm(message["expertise"], messages, float(message["temperature"]))
                reply = {"op": "reply", "id": request_id, "value": value}
            else:
                score, uses = await handler.utility(message["program"])
                reply = {"op": "reply", "id": request_id, "value": score, "uses": uses}
        except RefusedError as exc:
            if exc.score is not None:
                reply = {"op": "reply", "id": request_id, "value": exc.score, "uses": exc.uses}
            else:
                reply = {"op": "reply", "id": request_id, "error": str(exc)}
            if exc.counts:
                requests.refused(str(exc), zero_score=exc.score is not None)
        except (TypeError, ValueError) as exc:
            reply = {"op": "reply", "id": request_id, "error": f"bad request: {exc}"}
            requests.refused(f"bad request: {exc}")
        if not requests.ended.done():
            channel.send(reply)


class _Requests:
    """One improver run's count of refused requests; past the limit, `ended` is set (with why)."""

    def __init__(self, limits: ProtocolLimits, ended: asyncio.Future) -> None:
        self.limits, self.ended = limits, ended
        self.refusals = self.zero_scores = 0

    def refused(self, why: str, *, zero_score: bool = False) -> None:
        if self.ended.done():
            return
        if zero_score:
            self.zero_scores += 1
            if self.zero_scores > self.limits.max_zero_scores:
                self.ended.set_result(f"{self.zero_scores} utility calls past its budget "
                                      f"(the limit is {self.limits.max_zero_scores})")
            return
        self.refusals += 1
        if self.refusals > self.limits.max_refusals:
            self.ended.set_result(f"{self.refusals} refused requests (the limit is {self.limits.max_refusals}); "
                                  f"last: {why[:120]}")


@dataclass
class SolutionRun:
    results: list[CallResult]
    load_error: str | None = None
    isolation: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)


_TIMED_OUT: Any = {"op": "__timed_out__"}


class _CpuClock:
    """CPU seconds used by one run's processes (the child's tree and its supervisor, which only
    waits), read from the run's cgroup by the engine: nothing in the run can fake or hide it."""

    def __init__(self, spec: dict[str, Any], pid: int) -> None:
        self.path = os.path.join(str(spec["base"]), f"run-{pid}", str(spec["file"]))
        self.v2 = spec.get("version") == 2

    def read(self) -> float | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                data = os.read(fd, 4096)
            finally:
                os.close(fd)
            if not self.v2:
                return int(data) / 1e9  # cpuacct.usage: ns
            for line in data.split(b"\n"):
                if line.startswith(b"usage_usec "):
                    return int(line.split()[1]) / 1e6
        except (OSError, ValueError):
            pass
        return None


class _CallTimer:
    """One call's clock: CPU time where the run has a CPU clock, else wall time; and the
    wall-clock backstop. Waiting for the reply with a timeout of the CPU budget left and
    re-reading the clock is exact and cheap: a single-threaded call uses CPU no faster than
    wall time, so the reply cannot come after the budget was spent unseen."""

    def __init__(self, clock: _CpuClock | None, limit_s: float) -> None:
        self.clock, self.limit_s = clock, limit_s
        self.started = time.monotonic()
        self.cpu_start = clock.read() if clock is not None else None
        self.backstop = backstop_s(limit_s) if self.cpu_start is not None else limit_s
        self.hit_backstop = False

    def used(self) -> float | None:
        if self.cpu_start is None:
            return None
        now = self.clock.read()
        return None if now is None else max(0.0, now - self.cpu_start)

    def elapsed(self) -> float:
        used = self.used()
        return used if used is not None else time.monotonic() - self.started

    def why(self) -> str:
        if self.cpu_start is None:
            return f"timed out: the call took longer than {self.limit_s:g} s"
        if self.hit_backstop:
            return (f"timed out: the call ran {self.backstop:g} s of wall-clock time "
                    f"(the backstop for a {self.limit_s:g} s CPU limit: it slept or blocked)")
        return f"timed out: the call used more than {self.limit_s:g} s of CPU time"

    async def reply(self, channel: _Channel) -> dict[str, Any] | None:
        receive = asyncio.ensure_future(channel.recv())
        try:
            while True:
                wall_left = self.backstop - (time.monotonic() - self.started)
                used = self.used()
                cpu_left = self.limit_s - used if used is not None else wall_left
                if wall_left <= 0 or cpu_left <= 0:
                    self.hit_backstop = wall_left <= 0 and cpu_left > 0
                    return _TIMED_OUT
                wait = min(wall_left, max(POLL_MIN_S, min(cpu_left, POLL_MAX_S)))
                done, _ = await asyncio.wait({receive}, timeout=wait)
                if done:
                    return receive.result()
        finally:
            if not receive.done():
                receive.cancel()
                channel.broken = True  # cut off mid-frame, perhaps; the child is killed


async def _recv_within(channel: _Channel, timeout_s: float) -> dict[str, Any] | None:
    try:
        async with asyncio.timeout(timeout_s):
            return await channel.recv()
    except asyncio.TimeoutError:
        return _TIMED_OUT


def _exit_from(message: dict[str, Any]) -> ChildExit:
    """A supervisor's exit report (never a message from the child)."""
    isolation = message.get("isolation")
    return ChildExit(exit_code=message.get("exit_code"), signal=message.get("signal"),
                     timed_out=bool(message.get("timed_out")), terminated=bool(message.get("terminated")),
                     violations=[Violation.from_dict(v) for v in message.get("violations", []) if isinstance(v, dict)],
                     isolation=[str(i) for i in isolation] if isinstance(isolation, list) else None,
                     error=str(message["error"]) if message.get("error") else None)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _first_line(error: Any) -> str:
    """The last line of a traceback (the exception itself) is what a user needs first."""
    text = str(error or "unknown error").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else text)[:500]


def _with_output(reason: str, tail: str) -> str:
    if not tail:
        return reason
    last = tail.splitlines()[-1][:200]
    return f"{reason}; last output: {last}"
