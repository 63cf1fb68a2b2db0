"""Custom tasks: the skeleton `tasks new` writes, `tasks check`, and bad task folders everywhere."""

from __future__ import annotations

import re
import io
import json
import math

import numpy as np
import pytest
from rich.console import Console

from stop_tui.commands.common import UsageError
from stop_tui.commands.tasks import new_task
from stop_tui.engine.bus import EventBus
from stop_tui.engine.evaluation import Evaluator, ProgramRegistry
from stop_tui.engine.events import SolutionEvaluated
from stop_tui.engine.tasks import TaskError, load_task, load_task_folder, score_number

from .test_cli import assert_usage_error, stop_tui


def make_task(tmp_path, name="my_task"):
    """A fresh skeleton, written in-process (what `stop-tui tasks new` writes)."""
    assert new_task(name, tmp_path, Console(file=io.StringIO())) == 0
    return tmp_path / name


def edit(path, old, new):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


# --- tasks new -----------------------------------------------------------------------------


def test_tasks_new_writes_a_skeleton_that_passes_check_and_runs(tmp_path):
    result = stop_tui("tasks", "new", "pairs", "--dir", str(tmp_path / "mine"))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "mine" / "pairs"
    assert sorted(p.name for p in folder.iterdir()) == ["description.py", "scorer.py", "seed.py", "task.toml"]
    assert 'name = "pairs"' in (folder / "task.toml").read_text()

    check = stop_tui("tasks", "check", str(folder))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "task pairs" in check.stdout and "passed every check" in check.stdout and "✗" not in check.stdout

    listed = stop_tui("tasks", "--tasks-dir", str(tmp_path / "mine"))
    assert listed.returncode == 0 and "pairs" in listed.stdout and "Number partitioning" in listed.stdout

    run = stop_tui("run", "--headless", "--tasks-dir", str(tmp_path / "mine"), "--task", "pairs", "--model", "scripted",
                   "--iterations", "1", "--meta-tests", "2", "--meta-utility-budget", "4", "--trial-timeout", "8",
                   "--session", str(tmp_path / "session"))
    assert run.returncode == 0, run.stderr
    assert "run finished" in run.stdout
    logged = [json.loads(line) for line in (tmp_path / "session" / "session.jsonl").read_text().splitlines()[1:]]
    assert any(e["type"] == "solution_evaluated" and e["task"] == "pairs" for e in logged)


def test_tasks_new_refuses_to_overwrite_and_bad_names(tmp_path):
    make_task(tmp_path, "taken")
    seed_before = (tmp_path / "taken" / "seed.py").read_text()
    (tmp_path / "taken" / "seed.py").write_text(seed_before + "# my edit\n")
    assert_usage_error(stop_tui("tasks", "new", "taken", "--dir", str(tmp_path)), "already exists")
    assert (tmp_path / "taken" / "seed.py").read_text().endswith("# my edit\n")
    assert_usage_error(stop_tui("tasks", "new", "../escape", "--dir", str(tmp_path)), "is not valid")
    for bad in ("9lives", "has-dash", "a b", "", "x" * 65, "name.py"):
        with pytest.raises(UsageError, match="is not valid"):
            new_task(bad, tmp_path, Console(file=io.StringIO()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_usage_error(stop_tui("tasks", "new", "x", "--dir", str(blocker)), "is not a folder")


def test_skeleton_scores_its_seed_and_a_better_solution(tmp_path):
    task = load_task_folder(make_task(tmp_path))
    instances = task.instances("val")
    greedy = sum(task.score(i, greedy_partition(i.args[0]), 0.0) for i in instances)
    alternating = sum(task.score(i, [k % 2 for k in range(len(i.args[0]))], 0.0) for i in instances)
    assert greedy > alternating  # over a split: one instance can favour either
    instance = instances[0]
    (numbers,) = instance.args
    assert task.score(instance, [0, 1], 0.0) == 0.0  # wrong length
    assert task.score(instance, [2] * len(numbers), 0.0) == 0.0  # labels outside {0, 1}
    assert task.score(instance, "01" * len(numbers), 0.0) == 0.0


def greedy_partition(numbers):
    labels, sums = [0] * len(numbers), [0, 0]
    for i in sorted(range(len(numbers)), key=lambda i: -numbers[i]):
        side = 0 if sums[0] <= sums[1] else 1
        labels[i], sums[side] = side, sums[side] + numbers[i]
    return labels


# --- tasks check on broken folders ---------------------------------------------------------------


BROKEN = {
    # name: (how to break the skeleton, the file the message must name, a fragment of it)
    "no_seed": (lambda f: (f / "seed.py").unlink(), None, "missing seed.py"),
    "bad_limit": (lambda f: edit(f / "task.toml", "time_limit_s = 0.5", 'time_limit_s = "fast"'),
                  "task.toml", "'time_limit_s' must be a positive number"),
    "bad_toml": (lambda f: edit(f / "task.toml", "[splits.val]", "[splits.val"), "task.toml", "not valid TOML"),
    "no_entry": (lambda f: edit(f / "seed.py", "def algorithm(", "def solve("), "seed.py", "defines no algorithm()"),
    "no_score": (lambda f: edit(f / "scorer.py", "def score(", "def judge("), "scorer.py", "defines no score()"),
    "scorer_syntax": (lambda f: edit(f / "scorer.py", "def generate(seed: int):", "def generate(seed:"),
                      "scorer.py", "syntax error"),
    "unseeded": (lambda f: edit(f / "scorer.py", "rng = random.Random(seed)", "rng = random.Random()"),
                 "scorer.py", "different instances when called twice"),
    "numpy_args": (lambda f: edit(f / "scorer.py", "return [numbers], None", "import numpy\n    return [numpy.array(numbers)], None"),
                   "scorer.py", "not plain data: it contains a numpy.ndarray (convert it with .tolist())"),
    "seed_raises": (lambda f: edit(f / "seed.py", '    return [i % 2', '    raise RuntimeError("boom")\n    return [i % 2'),
                    "seed.py", "RuntimeError: boom"),
    "seed_hangs": (lambda f: edit(f / "seed.py", '    return [i % 2', '    while True:\n        pass\n    return [i % 2'),
                   "seed.py", "timed out"),
    "out_of_range": (lambda f: edit(f / "scorer.py", "return 1.0 / (1.0 + difference)", "return 7.0"),
                     "scorer.py", "outside utility_range [0, 1]"),
    "returns_bool": (lambda f: edit(f / "scorer.py", "return 1.0 / (1.0 + difference)", "return difference < 100"),
                     "scorer.py", "score() returned bool"),
    "returns_nan": (lambda f: edit(f / "scorer.py", "return 1.0 / (1.0 + difference)", "return float('nan')"),
                    "scorer.py", "score() returned float nan"),
    "name_mismatch": (lambda f: edit(f / "task.toml", 'name = "name_mismatch"', 'name = "other"'),
                      "task.toml", "the two must match"),
}


def test_tasks_check_names_the_task_and_file_of_each_problem(tmp_path):
    for name, (breaker, _, _) in BROKEN.items():
        breaker(make_task(tmp_path, name))
    make_task(tmp_path, "fine")
    result = stop_tui("tasks", "check", str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    errors = {line.split(":")[1].strip().removeprefix("task "): line for line in result.stderr.strip().splitlines()}
    assert set(errors) == set(BROKEN), result.stderr
    for name, (_, file, fragment) in BROKEN.items():
        expected_path = str(tmp_path / name / file) if file else str(tmp_path / name)
        assert expected_path in errors[name], errors[name]
        assert fragment in errors[name], errors[name]
    assert "task fine" in result.stdout and "task fine (" in result.stdout
    fine_block = result.stdout.split("task fine (")[1].split("\ntask ")[0]
    assert "✗" not in fine_block


def test_tasks_check_of_a_missing_folder_is_a_usage_error(tmp_path):
    assert_usage_error(stop_tui("tasks", "check", str(tmp_path / "nope")), "does not exist")


def test_tasks_check_warns_about_a_scorer_that_raises_on_malformed_output(tmp_path):
    folder = make_task(tmp_path, "strict")
    edit(folder / "scorer.py", "    if labels is None:\n        return 0.0\n", "    assert labels is not None\n")
    result = stop_tui("tasks", "check", str(folder))
    assert result.returncode == 0, result.stderr  # a warning, not a failure: the instance scores 0 either way
    assert "rejects a malformed output" in result.stdout and "AssertionError" in result.stdout


# --- loading: one sentence naming the task and the file ------------------------------------------


def test_bad_task_folders_fail_to_load_with_the_task_and_file_named(tmp_path):
    for name, (breaker, file, fragment) in BROKEN.items():
        if file in ("task.toml", None) or name in ("no_entry", "no_score", "scorer_syntax"):
            folder = make_task(tmp_path, name)
            breaker(folder)
            with pytest.raises(TaskError) as caught:
                load_task(name, [tmp_path])
            message = str(caught.value)
            assert message.startswith(f"task {name}: ") and fragment in message, message
            assert "\n" not in message


def test_run_and_eval_with_a_broken_task_give_one_sentence(tmp_path):
    breaker, _, _ = BROKEN["no_score"]
    breaker(make_task(tmp_path, "no_score"))
    for command in (("run", "--headless"), ("eval", "--solution", str(tmp_path / "no_score" / "seed.py"))):
        result = stop_tui(*command, "--tasks-dir", str(tmp_path), "--task", "no_score", "--session", str(tmp_path / "s")) \
            if command[0] == "run" else stop_tui(*command, "--tasks-dir", str(tmp_path), "--task", "no_score")
        assert_usage_error(result, f"task no_score: {tmp_path / 'no_score' / 'scorer.py'} defines no score()")
    assert not (tmp_path / "s").exists()


def test_a_tasks_dir_that_does_not_exist_is_a_usage_error(tmp_path):
    assert_usage_error(stop_tui("tasks", "--tasks-dir", str(tmp_path / "nope")), "does not exist")
    assert_usage_error(stop_tui("eval", "--tasks-dir", str(tmp_path / "nope"), "--task", "lpn", "--solution", "x.py"),
                       f"tasks folder {tmp_path / 'nope'} does not exist")


# --- evaluation: a broken scorer or solution fails the instance, never the run ---------------------


def test_score_number_accepts_real_numbers_only():
    assert score_number(0.5) == 0.5 and score_number(1) == 1.0
    assert score_number(np.float64(0.25)) == 0.25 and score_number(np.int64(1)) == 1.0
    assert score_number(np.float32(0.5)) == 0.5
    for bad in (True, False, np.True_, None, "0.5", float("nan"), math.inf, np.array(0.5), [0.5], 1j):
        assert score_number(bad) is None, bad


SCORER_RETURNS = {
    "nan": "float('nan')", "bool": "True", "none": "None", "string": "'0.9'", "array": "__import__('numpy').array([0.5])",
}


@pytest.mark.parametrize("kind", sorted(SCORER_RETURNS) + ["raises", "numpy_scalar"])
async def test_a_misbehaving_scorer_fails_each_instance_with_a_reason(tmp_path, pool, kind):
    folder = make_task(tmp_path, f"bad_{kind}")
    old = "    return 1.0 / (1.0 + difference)"
    if kind == "raises":
        edit(folder / "scorer.py", old, "    raise KeyError('oops')")
    elif kind == "numpy_scalar":
        edit(folder / "scorer.py", old, "    import numpy\n    return numpy.float64(0.25)")
    else:
        edit(folder / "scorer.py", old, f"    return {SCORER_RETURNS[kind]}")
    task = load_task_folder(folder)
    bus = EventBus()
    events = []
    bus.subscribe(events.append)
    result = await Evaluator(pool, bus, ProgramRegistry(bus)).evaluate(task, task.seed_source, "val", "t")
    await bus.drain()
    if kind == "numpy_scalar":
        assert result.failures == 0 and result.utility == 0.25
        return
    assert result.utility == 0.0 and result.failures == result.instances == 20
    reason = result.failure_reasons[0]
    assert f"task bad_{kind}" in reason and str(folder / "scorer.py") in reason, reason
    expected = {"raises": "KeyError", "nan": "float nan", "bool": "bool True", "none": "returned None",
                "string": "str '0.9'", "array": "ndarray"}[kind]
    assert expected in reason, reason
    logged = [e for e in events if isinstance(e, SolutionEvaluated)]
    assert len(logged) == 1 and logged[0].failures == 20 and logged[0].failure_reasons == list(result.failure_reasons)


async def test_a_generator_that_raises_fails_the_evaluation_not_the_run(tmp_path, pool):
    folder = make_task(tmp_path, "gen_raises")
    edit(folder / "scorer.py", "    rng = random.Random(seed)", "    if seed > 5680:\n        raise ValueError('no more')\n    rng = random.Random(seed)")
    task = load_task_folder(folder)  # loading does not generate instances
    bus = EventBus()
    result = await Evaluator(pool, bus, ProgramRegistry(bus)).evaluate(task, task.seed_source, "test", "t")
    assert result.utility == 0.0 and result.failures == result.instances == 50
    assert "task gen_raises" in result.failure_reasons[0] and re.search(r"generate\(\) for test instance \d+ \(seed 56\d\d, keyed\) raised ValueError: no more",
                                                                 result.failure_reasons[0])


async def test_solutions_with_wrong_output_score_zero_or_fail(tmp_path, pool):
    task = load_task_folder(make_task(tmp_path))
    bus = EventBus()
    evaluator = Evaluator(pool, bus, ProgramRegistry(bus))
    cases = {
        "def algorithm(numbers):\n    return [0, 1]\n": (0, None),  # wrong length: the scorer gives 0
        "def algorithm(numbers):\n    return {'labels': [0] * len(numbers)}\n": (0, None),  # wrong type
        "def algorithm(numbers):\n    return set(numbers)\n": (20, "not plain data"),
        "def algorithm(numbers):\n    return numbers[1000]\n": (20, "IndexError"),
        "def algorithm(numbers:\n": (20, "SyntaxError"),
        "def solve(numbers):\n    return []\n": (20, "algorithm"),
    }
    for source, (failures, fragment) in cases.items():
        result = await evaluator.evaluate(task, source, "val", "t")
        assert result.utility == 0.0 and result.failures == failures, (source, result)
        if fragment:
            assert any(fragment in r for r in result.failure_reasons), (source, result.failure_reasons)
