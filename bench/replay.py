"""Replay of a large session in the TUI: time to first frame, seek to the end, peak memory.

    python bench/synthetic_session.py /tmp/big.jsonl            # 100,000 events, ~460 MB
    python bench/replay.py /tmp/big.jsonl

The app runs headless (Textual's test driver) at 160x48. First frame: from creating the
replay (which indexes the log) to the first screen written with the first events shown.
Seek: from pressing End to the screen written with the last event shown. Memory: the
process's peak resident size (ru_maxrss), against a baseline measured in the same run: the
same app on the small fixture session. Baseline for speed: reading every line with plain
json.loads, in the same run. Targets: first frame < 2 s, seek < 0.5 s, memory < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402

from stop_tui.ui.app import StopApp  # noqa: E402
from stop_tui.ui.replay import ReplayRun  # noqa: E402
from stop_tui.ui.settings import Settings  # noqa: E402


async def measure(log: Path, ready: bool) -> dict:
    written: list[float] = []
    started = time.perf_counter()
    replay = ReplayRun(log, speed=100.0, playing=False)
    indexed = time.perf_counter() - started
    app = StopApp(replay, settings=Settings(path=Path("/nonexistent/stop-tui-bench/config.toml")))
    displayed = app._display

    def display(screen, renderable):
        displayed(screen, renderable)
        written.append(time.perf_counter())

    app._display = display
    async with app.run_test(size=(160, 48)) as pilot:
        while not written or app.model.events_seen == 0:  # step once: the first event on screen
            if app.model.events_seen == 0 and replay._sink is not None:
                replay.step()
            await asyncio.sleep(0.001)
        await pilot.pause(0.2)
        first_frame = written[-1] - started if written else float("nan")
        if ready:  # the replay folds the log's end in a thread after the first frame
            while replay.folding:
                await asyncio.sleep(0.01)
        ready_s = time.perf_counter() - started
        pressed = time.perf_counter()
        app.post_message(events.Key("end", None))
        while replay.position < len(replay) or app.model.dirty.any():  # shown: the repaint took it
            await asyncio.sleep(0.001)
        shown = time.perf_counter()
        mark = len(written)
        for _ in range(1000):  # and the screen write after it, if anything changed on screen
            if len(written) > mark:
                shown = written[-1]
                break
            await asyncio.sleep(0.001)
        seek = shown - pressed
    return {"indexed_s": indexed, "first_frame_s": first_frame, "seek_s": seek, "events": len(replay), "ready_s": ready_s,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def json_baseline(log: Path) -> float:
    started = time.perf_counter()
    with open(log, "rb") as handle:
        for line in handle:
            json.loads(line)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--at-once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one measurement per fresh process, so peak memory is this log's own
        print(json.dumps(asyncio.run(measure(args.log, ready=not args.at_once))))
        return
    small = ROOT / "tests" / "fixtures" / "small_session.jsonl"
    results = {}
    runs = (("fixture (baseline)", small, []), (args.log.name, args.log, []),
            (f"{args.log.name}, End at once", args.log, ["--at-once"]))
    for name, log, extra in runs:
        out = subprocess.run([sys.executable, __file__, str(log), "--child", *extra], capture_output=True, text=True,
                             check=True)
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    plain = json_baseline(args.log)
    print(f"{'':32}{'events':>9}{'index s':>9}{'first frame s':>15}{'end ready s':>13}{'seek end s':>12}{'peak MB':>9}")
    for name, r in results.items():
        print(f"{name:32}{r['events']:9,}{r['indexed_s']:9.2f}{r['first_frame_s']:15.2f}{r['ready_s']:13.2f}"
              f"{r['seek_s']:12.2f}{r['peak_mb']:9.0f}")
    print("(end ready: when the thread that folds the log's end in the background is done; End pressed "
          "before that waits for it)")
    big = results[args.log.name]
    print(f"plain json.loads of every line: {plain:.2f} s; seek to end / that: {big['seek_s'] / plain:.2f}x")
    print(f"targets: first frame < 2 s {'met' if big['first_frame_s'] < 2 else 'NOT met'}; "
          f"seek < 0.5 s {'met' if big['seek_s'] < 0.5 else 'NOT met'}; "
          f"memory < 300 MB {'met' if big['peak_mb'] < 300 else 'NOT met'}")


if __name__ == "__main__":
    main()
