"""Reading a session log against plain json.loads of every line, measured in the same run.

Replay and the session commands read whole logs; a long run's log holds ~100,000 events and
~0.5 GB. Each measurement runs in a fresh interpreter (so peak memory is its own) and is
repeated; the best of the repeats is shown. Methods:
  json-stream    json.loads of every line, results dropped (the floor for a streaming reader)
  json-list      json.loads of every line into a list (the floor for reading everything)
  from-dict      what the reader did before: text lines, event_from_dict(json.loads(line))
  iter_session   stop_tui's streaming reader: header, then typed events, results dropped
  read_session   stop_tui's reader that returns every event in a list
  history        what `export` and `report` read: the run's history, built while streaming
  outline        what `sessions` reads of a log: its header and run start, and its end back
                 to the last decided generation (bytes read are shown too)
For each: time to the first event, CPU and wall time of the full read, and peak memory
(ru_maxrss after the read minus ru_maxrss before it, which includes the interpreter's imports).

Usage: python bench/session_read.py [LOG] [--events N] [--repeat R]
Without LOG, writes a synthetic log of N events (bench/synthetic_session.py) to a
temporary directory first, and deletes it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ("json-stream", "json-list", "from-dict", "iter_session", "read_session", "history", "outline")


def measure(method: str, path: Path) -> dict:
    """One read of path by method, in this process."""
    from stop_tui.engine.events import event_from_dict
    from stop_tui.engine.session import iter_session, read_session
    from stop_tui.reports.history import load_history
    from stop_tui.reports.outline import read_outline

    def json_lines(keep: bool):
        with open(path, "rb") as handle:
            for line in handle:
                data = json.loads(line)
                if keep:
                    kept.append(data)
                yield data

    def from_dict():
        with open(path, encoding="utf-8") as handle:
            yield json.loads(handle.readline())
            for line in handle:
                yield event_from_dict(json.loads(line))

    kept: list = []
    streams = {
        "json-stream": lambda: json_lines(False), "json-list": lambda: json_lines(True),
        "from-dict": from_dict, "iter_session": lambda: iter_session(path),
    }
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    first, read_bytes = None, None
    if method == "read_session":
        _, events = read_session(path)
        count = len(events) + 1
    elif method == "history":
        history = load_history(path)
        count = None
        assert history.records
    elif method == "outline":
        outline = read_outline(path)
        count, read_bytes = None, outline.bytes_read
        assert outline.state != "error", outline.error
    else:
        count = 0
        for _ in streams[method]():
            count += 1
            if count == 2:  # the header, then the first event
                first = time.perf_counter() - wall
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    return {"method": method, "lines": count, "first_s": first, "wall_s": wall, "cpu_s": cpu, "peak_mb": peak_kb / 1024,
            "read_bytes": read_bytes}


def measure_in_fresh_interpreter(method: str, path: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--measure", method, str(path)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def report(path: Path, repeat: int) -> None:
    size = path.stat().st_size
    results = {}
    for _ in range(repeat):  # interleaved, so a busy moment on the machine hits every method alike
        for method in METHODS:
            results.setdefault(method, []).append(measure_in_fresh_interpreter(method, path))
    lines = results["json-stream"][0]["lines"]
    print(f"{path}: {size / 1e6:.1f} MB, {lines - 1:,} events; best of {repeat} runs each")
    print(f"{'method':14} {'first event':>12} {'wall':>8} {'CPU':>8} {'MB/s (CPU)':>11} {'peak MB':>8} {'CPU vs json':>12}")
    floor = min(r["cpu_s"] for r in results["json-stream"])
    for method in METHODS:
        runs = results[method]
        assert all(r["lines"] in (lines, None) for r in runs), f"{method} read {runs[0]['lines']} lines, not {lines}"
        cpu = min(r["cpu_s"] for r in runs)
        wall = min(r["wall_s"] for r in runs)
        firsts = [r["first_s"] for r in runs if r["first_s"] is not None]
        first = f"{min(firsts) * 1e3:.2f} ms" if firsts else "—"
        peak = min(r["peak_mb"] for r in runs)
        read = runs[0]["read_bytes"]
        note = f"  (read {read / 1e3:,.0f} kB of {size / 1e6:,.0f} MB)" if read is not None else ""
        rate = f"{size / 1e6 / cpu:11.0f}" if read is None else f"{'—':>11}"
        print(f"{method:14} {first:>12} {wall:7.3f}s {cpu:7.3f}s {rate} {peak:8.0f} {cpu / floor:11.3f}x{note}")


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2], Path(sys.argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, nargs="?")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.log is not None:
        report(args.log, args.repeat)
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from synthetic_session import write_synthetic_session

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "session.jsonl"
        started = time.perf_counter()
        asyncio.run(write_synthetic_session(path, args.events))
        print(f"wrote a synthetic log in {time.perf_counter() - started:.1f} s")
        report(path, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
