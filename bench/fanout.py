"""Is an iteration about as long as its LM round trips in series? (architecture, property 7)

One STOP iteration with the paper's defaults (4 LM calls x 6 samples per improver run, 5
meta-utility tests, utility budget 25, meta-utility budget 25) against the OpenAI-compatible
fake server (tests/fake_openai.py, its own process) answering from the scripted library after
1 s per request, through the real gateway and HTTP client (model openai/gpt-4o-mini, --api-base).

The critical path is counted from the session's events, by the program structure:
  seed scoring   the longest chain of LM requests in any of the seed's trials (trials run at once)
  step           the chain of the improvement step's own requests, plus, for each candidate it
                 scores (one after another: utility calls block the improver), the longest chain
                 in any of that candidate's trials; plus the proposal's scoring if it was new
where a chain within one program run counts requests that did not overlap (requests an improver
sends from threads at once count once). Prints wall time, that critical path x 1 s, and the
ratio (target: within 3x), and how many requests, HTTP calls and samples went out.
Usage: python bench/fanout.py [latency_s]
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stop_tui.engine.config import RunConfig  # noqa: E402
from stop_tui.engine.events import (  # noqa: E402
    CandidateStarted, GenerationDecided, LMRequestFinished, LMRequestStarted, RunFinished, RunStarted,
)
from stop_tui.engine.lm.models import make_backend  # noqa: E402
from stop_tui.engine.runner import run_session  # noqa: E402
from stop_tui.engine.session import read_session  # noqa: E402
from stop_tui.engine.tasks import load_task, task_search_dirs  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, latency_s: float) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "fake_openai.py"), "--port", str(port),
                               "--latency", str(latency_s), "--scripted"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the fake server did not start")


def longest_chain(intervals: list[tuple[float, float]]) -> int:
    """Most requests that ran one after another (each started after the previous finished)."""
    chain: list[tuple[float, int]] = []  # (finish, chain length ending there)
    best = 0
    for start, finish in sorted(intervals):
        length = 1 + max((n for f, n in chain if f <= start), default=0)
        chain.append((finish, length))
        best = max(best, length)
    return best


def critical_path(events) -> tuple[int, dict[str, int]]:
    started = {e.request_id: e for e in events if isinstance(e, LMRequestStarted)}
    by_context: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for e in events:
        if isinstance(e, LMRequestFinished) and e.request_id in started:
            s = started[e.request_id]
            by_context[s.context].append((s.ts, e.ts))

    def chain(context: str) -> int:
        return longest_chain(by_context.get(context, []))

    def candidate_depth(c: CandidateStarted, trials: int) -> int:
        return max(chain(f"g{c.generation}/{c.program_sha[:8]}/t{i}") for i in range(trials))

    trials = RunConfig().meta_tests
    candidates = [e for e in events if isinstance(e, CandidateStarted)]
    parts = {"seed scoring": sum(candidate_depth(c, trials) for c in candidates if c.generation == 0),
             "improvement step": chain("g1/step"),
             "candidates scored by the step": sum(candidate_depth(c, trials) for c in candidates
                                                  if c.generation == 1 and "-c" in c.candidate_id),
             "proposal scoring": sum(candidate_depth(c, trials) for c in candidates
                                     if c.generation == 1 and c.candidate_id.endswith("-result"))}
    return sum(parts.values()), parts


async def one_iteration(base_url: str, log: Path):
    config = RunConfig(model="openai/gpt-4o-mini", api_base=base_url, iterations=1)  # paper defaults otherwise
    backend = make_backend(config.model, config=config)
    return await run_session(config=config, task=load_task("lpn", task_search_dirs()), backend=backend, log_path=log)


def main() -> None:
    latency = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    port = free_port()
    server = start_server(port, latency)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            log = Path(scratch) / "session.jsonl"
            summary = asyncio.run(one_iteration(f"http://127.0.0.1:{port}/v1", log))
            _, events = read_session(log)
    finally:
        server.terminate()
        server.wait(timeout=10)
    begin = next(e.ts for e in events if isinstance(e, RunStarted))
    end = next(e.ts for e in events if isinstance(e, RunFinished))
    wall = end - begin
    rounds, parts = critical_path(events)
    finished = [e for e in events if isinstance(e, LMRequestFinished)]
    started = {e.request_id: e.ts for e in events if isinstance(e, LMRequestStarted)}
    observed = longest_chain([(started[f.request_id], f.ts) for f in finished if f.request_id in started])
    decided = [e for e in events if isinstance(e, GenerationDecided)]
    print(f"one STOP iteration, paper defaults, {latency:g} s per LM request, {os.cpu_count()} CPUs: run {summary.state}")
    print(f"  LM requests {len(finished)}, HTTP calls {sum(e.calls for e in finished)}, "
          f"samples {sum(len(e.responses) for e in finished)}, failed requests {sum(1 for e in finished if e.error)}")
    for name, value in parts.items():
        print(f"  critical path, {name}: {value} round trips")
    print(f"  wall time                      {wall:7.1f} s")
    print(f"  critical path x {latency:g} s            {rounds * latency:7.1f} s  ({rounds} round trips)")
    print(f"  ratio wall / critical path     {wall / (rounds * latency):7.2f}x  (target: within 3x)")
    print(f"  longest chain observed         {observed} requests one after another (any program runs)")
    if decided:
        print(f"  generation 1: {decided[-1].reason}")


if __name__ == "__main__":
    main()
