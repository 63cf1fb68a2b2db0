"""The planted 3-SAT task: its hidden scorer, its description, and its scripted responses."""

from __future__ import annotations

import random
import tomllib

import numpy as np
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
from .solutions_sat import ALL_TRUE, AS_BOOLEANS, AS_FLOATS, DPLL, MALFORMED, SLEEPS_PAST_LIMIT, WALKSAT

FOLDER = REPO / "tasks" / "three_sat"
LIBRARY = REPO / "stop_tui" / "engine" / "lm" / "scripted_library" / "three_sat"
# Level bands of the scripted responses, as index.toml states them (val utility).
BANDS = {-1: (0.0, 0.0), 0: (0.0, 0.35), 1: (0.35, 0.85), 2: (0.85, 0.9999), 3: (1.0, 1.0)}


@pytest.fixture(scope="module")
def task():
    return load_task_folder(FOLDER)


def evaluator(pool):
    bus = EventBus()
    return Evaluator(pool, bus, ProgramRegistry(bus))


def satisfied(formula, values):
    """Plain-Python check, independent of the scorer's vectorised one."""
    return all(any(bool(values[abs(lit) - 1]) == (lit > 0) for lit in clause) for clause in formula)


# --- the generator and scorer, directly ---------------------------------------------------

def test_formulas_are_planted_random_3sat_with_4n_clauses(task):
    meta = tomllib.loads((FOLDER / "task.toml").read_text())
    assert meta["splits"]["val"] == {"seed": 4321, "count": 30}
    assert meta["splits"]["test"] == {"seed": 5678, "count": 30}
    sizes, all_agree, clauses, positive, literals = [], 0, 0, 0, 0
    for split in ("val", "test"):
        instances = task.instances(split)
        assert len(instances) == 30
        for instance in instances:
            (formula,) = instance.args
            n, hidden = instance.answer["n"], instance.answer["hidden"]
            assert 5 <= n <= 50 and len(hidden) == n
            assert len(formula) == 4 * n  # m = 4n
            for clause in formula:
                assert len(clause) == 3 and all(type(lit) is int and 1 <= abs(lit) <= n for lit in clause)
                assert len({abs(lit) for lit in clause}) == 3  # three distinct variables
                agree = sum(bool(hidden[abs(lit) - 1]) == (lit > 0) for lit in clause)
                assert agree >= 1  # the hidden assignment satisfies every clause
                all_agree += agree == 3
            assert {abs(lit) for clause in formula for lit in clause} == set(range(1, n + 1))
            assert satisfied(formula, hidden)
            assert task.scorer.score(instance.args, instance.answer, hidden, 0.0) == 1.0
            sizes.append(n)
            clauses += len(formula)
            positive += sum(lit > 0 for clause in formula for lit in clause)
            literals += 3 * len(formula)
    # The 7 satisfied sign patterns are equally likely: 1 in 7 clauses agrees in all 3 literals.
    assert 0.10 < all_agree / clauses < 0.19
    assert 0.45 < positive / literals < 0.55
    assert min(sizes) <= 8 and max(sizes) >= 48
    again = load_task_folder(FOLDER)
    assert [i.args for i in again.instances("test")] == [i.args for i in task.instances("test")]


def test_score_accepts_only_n_values_in_0_1(task):
    instance = task.instances("val")[3]
    args, answer = instance.args, instance.answer
    hidden, n = answer["hidden"], answer["n"]
    score = task.scorer.score
    assert score(args, answer, hidden, 0.0) == 1.0
    assert score(args, answer, [bool(v) for v in hidden], 0.0) == 1.0
    assert score(args, answer, [float(v) for v in hidden], 0.0) == 1.0
    malformed = [
        [0] + hidden,  # the reference's n + 1 list with slot 0
        hidden[:-1], hidden + hidden, [[v] for v in hidden], [2 * v - 1 for v in hidden],
        [i + 1 if v else -(i + 1) for i, v in enumerate(hidden)], [v + 0.5 for v in hidden],
        "".join(map(str, hidden)), {i + 1: v for i, v in enumerate(hidden)}, 1, None,
        np.array(hidden), np.array(hidden)[:, None], [float("nan")] * n,
    ]
    for bad in malformed:
        assert score(args, answer, bad, 0.0) == 0.0, bad
    # A valid assignment that misses a clause scores 0.
    (formula,) = args
    broken = list(hidden)
    for lit in formula[0]:
        broken[abs(lit) - 1] = int(lit < 0)  # makes every literal of the first clause false
    assert not satisfied(formula, broken)
    assert score(args, answer, broken, 0.0) == 0.0


# --- through the sandbox, as in a run -----------------------------------------------------

async def test_seed_utility_is_stable_across_evaluations(pool):
    scores = []
    for _ in range(2):  # a fresh task and evaluator each time: nothing cached between them
        task = load_task_folder(FOLDER)
        result = await evaluator(pool).evaluate(task, task.seed_source, "val", "t")
        assert result.failures == 0, result.failure_reasons
        scores.append(result.utility)
    assert scores[0] == scores[1]
    assert 0.0 < scores[0] < 0.6


async def test_complete_and_local_search_solvers_solve_most_formulas(pool, task):
    ev = evaluator(pool)
    for split in ("val", "test"):
        result = await ev.evaluate(task, DPLL, split, "t")
        assert result.utility >= 0.9, (split, result)
    assert (await ev.evaluate(task, WALKSAT, "val", "t")).utility >= 0.9
    assert (await ev.evaluate(task, ALL_TRUE, "val", "t")).utility < 0.2


async def test_formats_other_than_n_values_never_score(pool, task):
    ev = evaluator(pool)
    reference = await ev.evaluate(task, DPLL, "val", "t")
    assert reference.utility >= 0.9
    for valid in (AS_BOOLEANS, AS_FLOATS):
        assert (await ev.evaluate(task, valid, "val", "t")).utility >= 0.9
    for name, source in MALFORMED.items():
        result = await ev.evaluate(task, source, "val", "t")
        assert result.utility == 0.0, name
        assert result.failures == 0, (name, result.failure_reasons)  # ran fine; the scorer said no


async def test_a_solution_that_sleeps_past_the_limit_fails(pool, task):
    result = await evaluator(pool).evaluate(task, SLEEPS_PAST_LIMIT, "val", "t")
    assert result.utility == 0.0
    assert result.failures == result.instances == 30
    assert any("timed out" in reason for reason in result.failure_reasons)


# --- the grey-box description -------------------------------------------------------------

def test_description_runs_and_hides_the_split_seeds(task):
    namespace = {}
    exec(task.description, namespace)
    random.seed(5)
    formula = namespace["planted_3sat"](12)
    assert len(formula) == 48 and {abs(lit) for c in formula for lit in c} == set(range(1, 13))
    satisfies = namespace["satisfies"]
    values = [0] * 12
    assert satisfies(formula, values) == satisfied(formula, values)
    assert not satisfies(formula, [0] + values) and not satisfies(formula, values[:-1])
    assert namespace["utility"](ALL_TRUE) < 0.3
    assert namespace["utility"]("def algorithm(formula):\n    raise ValueError\n") == 0.0
    assert 0.0 <= namespace["utility"](task.seed_source) <= 1.0
    for hidden in ("4321", "5678", "scorer"):
        assert hidden not in task.description


# --- scripted responses -------------------------------------------------------------------

def test_scripted_prompts_for_this_task_are_recognised(task):
    library = ScriptedLibrary.load()
    prompt = f"Improve:\n```python\n{task.seed_source}\n```\nScored by:\n```python\n{task.description}\n```\n"
    assert library.classify(prompt) == ("three_sat", 0)
    improver = (REPO / "tasks" / "improvers" / "seed.py").read_text()
    meta_prompt = f"```python\n{improver}\n```\n```python\n{meta_utility_description(RunConfig(task=task.name), task)}\n```"
    assert library.classify(meta_prompt) == ("improver", 0)
    marker = next(m for kind, m in library.markers if kind == "three_sat")
    lpn = load_task_folder(REPO / "tasks" / "lpn")
    for other in (improver, lpn.seed_source, lpn.description, task.description):
        assert marker.search(other) is None


async def test_scripted_responses_score_within_their_levels(pool, task):
    library = ScriptedLibrary.load()
    entries = library.by_kind["three_sat"]
    assert {e.level for e in entries} == {-1, 0, 1, 2, 3}
    assert {e.slug for e in entries} == {p.stem for p in LIBRARY.glob("*.md")}
    ev = evaluator(pool)
    measured = []
    for entry in entries:
        code = extract_code(entry.text)
        assert code.startswith(f"# scripted: three_sat/{entry.slug}\n"), entry.slug
        assert library.classify(code) == ("three_sat", max(entry.level, 0))
        result = await ev.evaluate(task, code, "val", "t")
        measured.append((entry.slug, entry.level, result.utility))

    check_levels(BANDS, measured)