"""Keypress latency and CPU use of the TUI, idle and under a flood of streamed tokens.

    python bench/tui_latency.py [--streams 24] [--tokens-per-s 1500] [--presses 60]

The load is LM traffic as the engine publishes it: 24 concurrent requests streaming chunks
(about four characters a token), each finishing after a while and replaced by a new one,
fed straight into the app's event sink, the same path a live run uses. Latency is measured
from posting a key to the first screen refresh after the key's action ran (the moment the
terminal would show it). The idle run in the same process is the baseline. Targets: p95
under 100 ms and under one core with the load.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events  # noqa: E402

from stop_tui.engine.events import LMChunk, LMRequestFinished, LMRequestStarted, RunStarted  # noqa: E402
from stop_tui.ui.app import StopApp  # noqa: E402
from stop_tui.ui.settings import Settings  # noqa: E402

CHARS_PER_TOKEN = 4
CHUNK_CHARS = 24  # a few tokens a chunk, as hosted APIs send them
CHUNKS_PER_REQUEST = 120


class FloodSource:
    """Publishes streamed LM traffic at a fixed token rate until stopped."""

    controllable = False
    gate = False
    paused = False
    log_path = "(synthetic)"
    label = "benchmark load"

    def __init__(self, streams: int, tokens_per_s: float) -> None:
        self.streams, self.tokens_per_s = streams, tokens_per_s
        self.running = asyncio.Event()
        self.tokens_sent = 0
        self._stop = False

    async def drive(self, sink, approver) -> None:
        sink(RunStarted(run_id="bench", task="lpn", model="flood", config={"iterations": 3}, seed_improver_sha="0" * 16,
                        sandbox_isolation=[]))
        await self.running.wait()
        chunks_per_s = self.tokens_per_s * CHARS_PER_TOKEN / CHUNK_CHARS
        tick = 0.01
        last = time.perf_counter()
        counts: dict[str, int] = {}
        next_id = 0
        owed = 0.0
        text = "x = compute(value)  # ok\n"[:CHUNK_CHARS]
        while not self._stop:
            while len(counts) < self.streams:
                next_id += 1
                request_id = f"r{next_id:05d}"
                counts[request_id] = 0
                sink(LMRequestStarted(request_id=request_id, purpose="improve-solution", model="flood", n=1,
                                      temperature=0.7, max_tokens=1024, expertise="", messages=["..."],
                                      context="g1/abcd1234/t0", generation=1))
            now = time.perf_counter()  # owe chunks by the clock: sleeps overshoot
            owed += chunks_per_s * (now - last)
            last = now
            ids = list(counts)
            while owed >= 1:
                owed -= 1
                request_id = ids[int(owed * 997) % len(ids)]
                sink(LMChunk(request_id=request_id, choice=0, text=text))
                self.tokens_sent += CHUNK_CHARS // CHARS_PER_TOKEN
                counts[request_id] += 1
                if counts[request_id] >= CHUNKS_PER_REQUEST:
                    del counts[request_id]
                    sink(LMRequestFinished(request_id=request_id, responses=[text * CHUNKS_PER_REQUEST],
                                           prompt_tokens=100, completion_tokens=CHUNKS_PER_REQUEST * 6, cost_usd=0.0,
                                           latency_s=1.0))
                    ids = list(counts) or ids
            await asyncio.sleep(tick)

    def stop(self) -> None:
        self._stop = True

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def request_stop(self) -> None: ...


# (key, the app action it runs): re-sorting the leaderboard is a light visible change;
# switching tabs re-lays out a whole pane set, the heaviest thing a key does.
KEYS = {"sort": [("o", "action_cycle_sort")], "tabs": [("d", "action_show_tab"), ("l", "action_show_tab")]}


async def measure(app: StopApp, pilot, presses: int, keys: list[tuple[str, str]]) -> list[float]:
    """Seconds from posting a key to the first screen update written after its action ran."""
    latencies = []
    displayed = app._display  # the app's one door to the terminal (here the headless driver)
    waiting: list[asyncio.Future] = []

    def display(screen, renderable, _displayed=displayed):
        _displayed(screen, renderable)
        while waiting:
            future = waiting.pop()
            future.done() or future.set_result(time.perf_counter())

    app._display = display
    for i in range(presses):
        key, action_name = keys[i % len(keys)]
        shown = asyncio.get_running_loop().create_future()
        original = getattr(app, action_name)

        def traced(*args, _original=original, _shown=shown):
            _original(*args)
            waiting.append(_shown)  # the next write to the screen shows the key's effect

        setattr(app, action_name, traced)
        started = time.perf_counter()
        # As the terminal driver does; Pilot.press would first wait for an idle app.
        app.post_message(events.Key(key, key))
        latencies.append(await asyncio.wait_for(shown, 5) - started)
        setattr(app, action_name, original)
        await asyncio.sleep(0.05)
    app._display = displayed
    return latencies


async def run(streams: int, tokens_per_s: float, presses: int, load: bool, keys: str) -> dict:
    source = FloodSource(streams, tokens_per_s)
    app = StopApp(source, settings=Settings(path=Path("/nonexistent/stop-tui-bench/config.toml")))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.5)
        if load:
            source.running.set()
            await asyncio.sleep(1.0)  # let the load settle
        cpu0, wall0, tokens0 = time.process_time(), time.perf_counter(), source.tokens_sent
        latencies = await measure(app, pilot, presses, KEYS[keys])
        cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        rate = (source.tokens_sent - tokens0) / (time.perf_counter() - wall0)
        source.stop()
    quantiles = statistics.quantiles(latencies, n=20)
    return {"p50_ms": statistics.median(latencies) * 1000, "p95_ms": quantiles[18] * 1000, "cores": cpu,
            "tokens_per_s": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=24)
    parser.add_argument("--tokens-per-s", type=float, default=1500)
    parser.add_argument("--presses", type=int, default=60)
    args = parser.parse_args()
    print(f"{'':36}{'p50 ms':>10}{'p95 ms':>10}{'CPU cores':>12}{'tokens/s':>10}")
    for keys in KEYS:
        idle = asyncio.run(run(args.streams, args.tokens_per_s, args.presses, load=False, keys=keys))
        loaded = asyncio.run(run(args.streams, args.tokens_per_s, args.presses, load=True, keys=keys))
        for name, r in ((f"{keys} keys, idle (baseline)", idle), (f"{keys} keys, {args.streams} streams", loaded)):
            print(f"{name:36}{r['p50_ms']:10.1f}{r['p95_ms']:10.1f}{r['cores']:12.2f}{r['tokens_per_s']:10.0f}")
        print(f"  p95 under load / idle: {loaded['p95_ms'] / max(idle['p95_ms'], 1e-9):.2f}x; "
              f"p95 < 100 ms: {'met' if loaded['p95_ms'] < 100 else 'NOT met'}; "
              f"< 1 core: {'met' if loaded['cores'] < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
