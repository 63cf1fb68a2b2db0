"""The string grid distance task: its hidden scorer, its description, and its scripted responses."""

from __future__ import annotations

import itertools
import random
import re
import tomllib

import pytest

from .level_bands import check_levels
from stop_tui.engine.bus import EventBus
from stop_tui.engine.config import RunConfig
from stop_tui.engine.evaluation import Evaluator, ProgramRegistry
from stop_tui.engine.lm.scripted import ScriptedLibrary
from stop_tui.engine.sandbox.helpers import extract_code
from stop_tui.engine.stop import meta_utility_description
from stop_tui.engine.tasks import load_task_folder

from .conftest import REPO
from .solutions_grid import EXACT_DP, MALFORMED, SEED_LIKE, SLEEPS_PAST_LIMIT

FOLDER = REPO / "tasks" / "str_grid_dist"
LIBRARY = REPO / "stop_tui" / "engine" / "lm" / "scripted_library" / "str_grid_dist"
# Level bands of the scripted responses, as index.toml states them (val utility).
BANDS = {-1: (0.0, 0.0), 0: (0.0, 0.55), 1: (0.55, 0.85), 2: (0.85, 0.9999), 3: (1.0, 1.0)}


@pytest.fixture(scope="module")
def task():
    return load_task_folder(FOLDER)


def evaluator(pool):
    bus = EventBus()
    return Evaluator(pool, bus, ProgramRegistry(bus))


def run_in_process(source, t, dist):
    namespace = {}
    exec(source, namespace)
    return namespace["algorithm"](t, dist)


# --- the scorer, directly -----------------------------------------------------------------

def test_grid_dist_on_hand_worked_examples(task):
    grid_dist = task.scorer.grid_dist
    assert grid_dist("A", "A") == 0
    assert grid_dist("A", "B") == 1  # one mismatch, no neighbours
    assert grid_dist("AAB", "ABB") == 3  # mismatch at 1, "AB" in s, "AB" in t
    assert grid_dist("AABB", "AABB") == 2  # no mismatch; one change in each string
    assert grid_dist("ABAB", "BABA") == 10  # 4 mismatches + 3 changes + 3 changes
    assert grid_dist("AAAA", "BBBB") == 4
    assert grid_dist("ABBB", "AAAA") == 4  # 3 mismatches + 1 change in s
    with pytest.raises(ValueError):
        grid_dist("AB", "A")


def test_description_and_scorer_define_the_same_distance(task):
    namespace = {}
    exec(task.description, namespace)
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(1, 30)
        s, t = ("".join(rng.choice("AB") for _ in range(n)) for _ in range(2))
        assert namespace["grid_dist"](s, t) == task.scorer.grid_dist(s, t) == task.scorer.grid_dist(t, s)


def test_score_follows_the_rule_and_rejects_malformed_strings(task):
    (t, dist), answer = task.scorer.generate(12345)
    n = len(t)
    exact = run_in_process(EXACT_DP, t, dist)
    assert task.scorer.score([t, dist], answer, exact, 0.0) == 1.0
    assert task.scorer.score([t, dist], answer, answer["hidden_s"], 0.0) == 1.0
    d = task.scorer.grid_dist(t, t)
    if d != dist:
        assert task.scorer.score([t, dist], answer, t, 0.0) == pytest.approx(0.5 - abs(d - dist) / (6 * n))
    for bad in (t + "A", t[:-1], t.lower(), list(t), [t], None, dist, t.replace("A", "C"), t + " "):
        assert task.scorer.score([t, dist], answer, bad, 0.0) == 0.0, bad


def test_every_answer_of_every_short_string_scores_within_range(task):
    # All t and s up to length 6: inexact answers score in (0, 0.5], exact ones 1.0.
    for n in range(1, 7):
        strings = ["".join(p) for p in itertools.product("AB", repeat=n)]
        for t in strings:
            for hidden in strings[:: max(1, len(strings) // 8)]:
                dist = task.scorer.grid_dist(hidden, t)
                for s in strings:
                    value = task.scorer.score([t, dist], {"dist": dist}, s, 0.0)
                    if task.scorer.grid_dist(s, t) == dist:
                        assert value == 1.0
                    else:
                        assert 0.0 < value <= 0.5


def test_instances_are_seeded_sized_and_reachable(task):
    meta = tomllib.loads((FOLDER / "task.toml").read_text())
    assert meta["splits"]["val"] == {"seed": 4321, "count": 50}
    assert meta["splits"]["test"] == {"seed": 5678, "count": 50}
    lengths = []
    for split in ("val", "test"):
        instances = task.instances(split)
        assert len(instances) == 50
        for instance in instances:
            t, dist = instance.args
            assert isinstance(t, str) and 1 <= len(t) <= 30 and set(t) <= {"A", "B"}
            assert isinstance(dist, int) and dist == instance.answer["dist"]
            assert dist == task.scorer.grid_dist(instance.answer["hidden_s"], t)  # some s is exact
            lengths.append(len(t))
    assert min(lengths) == 1 and max(lengths) == 30
    again = load_task_folder(FOLDER)
    assert [i.args for i in again.instances("val")] == [i.args for i in task.instances("val")]
    assert {i.seed for i in task.instances("val")}.isdisjoint(i.seed for i in task.instances("test"))


# --- through the sandbox, as in a run -----------------------------------------------------

async def test_seed_utility_is_stable_and_matches_the_in_process_score(pool):
    scores = []
    for _ in range(2):  # a fresh task and evaluator each time: nothing cached between them
        task = load_task_folder(FOLDER)
        result = await evaluator(pool).evaluate(task, task.seed_source, "val", "t")
        assert result.failures == 0
        scores.append(result.utility)
    assert scores[0] == scores[1]
    instances = task.instances("val")
    expected = sum(task.scorer.score(i.args, i.answer, i.args[0], 0.0) for i in instances) / len(instances)
    assert scores[0] == pytest.approx(expected)
    assert 0.3 < scores[0] < 0.7


async def test_exact_solver_scores_one_and_formats_never_beat_it(pool, task):
    ev = evaluator(pool)
    for split in ("val", "test"):
        result = await ev.evaluate(task, EXACT_DP, split, "t")
        assert (result.utility, result.failures) == (1.0, 0), result
    seed = await ev.evaluate(task, SEED_LIKE, "val", "t")
    assert 0.0 < seed.utility < 1.0
    for name, source in MALFORMED.items():
        result = await ev.evaluate(task, source, "val", "t")
        assert result.utility == 0.0, name
        assert result.failures == 0, (name, result.failure_reasons)  # ran fine; the scorer said no


async def test_a_solution_that_sleeps_past_the_limit_fails(pool, task):
    result = await evaluator(pool).evaluate(task, SLEEPS_PAST_LIMIT, "val", "t")
    assert result.utility == 0.0
    assert result.failures == result.instances == 50
    assert any("timed out" in reason for reason in result.failure_reasons)


# --- the grey-box description -------------------------------------------------------------

def test_description_runs_and_hides_the_split_seeds(task):
    namespace = {}
    exec(task.description, namespace)
    random.seed(3)
    assert namespace["utility"](EXACT_DP) == 1.0
    assert 0.2 < namespace["utility"](task.seed_source) < 0.8
    assert namespace["utility"]("def algorithm(t, dist):\n    return list(t)\n") == 0.0
    assert namespace["utility"]("this is not python") == 0.0
    for hidden in ("4321", "5678", "hidden_s", "scorer"):
        assert hidden not in task.description


# --- scripted responses -------------------------------------------------------------------

def test_scripted_prompts_for_this_task_are_recognised(task):
    library = ScriptedLibrary.load()
    prompt = f"Improve:\n```python\n{task.seed_source}\n```\nScored by:\n```python\n{task.description}\n```\n"
    assert library.classify(prompt) == ("str_grid_dist", 0)
    improver = (REPO / "tasks" / "improvers" / "seed.py").read_text()
    meta_prompt = f"```python\n{improver}\n```\n```python\n{meta_utility_description(RunConfig(task=task.name), task)}\n```"
    assert library.classify(meta_prompt) == ("improver", 0)
    marker = next(m for kind, m in library.markers if kind == "str_grid_dist")
    lpn = load_task_folder(REPO / "tasks" / "lpn")
    for other in (improver, lpn.seed_source, lpn.description, task.description):
        assert marker.search(other) is None
    assert marker.search("def algorithm(t: str, dist: int) -> str:")
    assert not re.search(marker.pattern, "def algorithm(train_samples, train_parity, test_samples):")


async def test_scripted_responses_score_within_their_levels(pool, task):
    library = ScriptedLibrary.load()
    entries = library.by_kind["str_grid_dist"]
    assert {e.level for e in entries} == {-1, 0, 1, 2, 3}
    assert {e.slug for e in entries} == {p.stem for p in LIBRARY.glob("*.md")}
    ev = evaluator(pool)
    measured = []
    for entry in entries:
        code = extract_code(entry.text)
        assert code.startswith(f"# scripted: str_grid_dist/{entry.slug}\n"), entry.slug
        assert library.classify(code) == ("str_grid_dist", max(entry.level, 0))
        result = await ev.evaluate(task, code, "val", "t")
        measured.append((entry.slug, entry.level, result.utility))

    check_levels(BANDS, measured)