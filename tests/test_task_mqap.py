"""The modified quadratic assignment task: its hidden scorer, description and scripted responses."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
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
from stop_tui.engine.tasks import Split, discover_tasks, load_task_folder, task_search_dirs

from .conftest import REPO
from .solutions_mqap import AS_FLOATS, IDENTITY, MALFORMED, MULTISTART_DESCENT, SLEEPS_PAST_LIMIT

FOLDER = REPO / "tasks" / "mqap"
LIBRARY = REPO / "stop_tui" / "engine" / "lm" / "scripted_library" / "mqap"
# Level bands of the scripted responses, as index.toml states them (val utility).
BANDS = {-1: (0.0, 0.0), 0: (0.0, 0.90), 1: (0.90, 0.94), 2: (0.94, 0.97), 3: (0.97, 1.0)}


@pytest.fixture(scope="module")
def task():
    return load_task_folder(FOLDER)


def evaluator(pool):
    bus = EventBus()
    return Evaluator(pool, bus, ProgramRegistry(bus))


def first_instances(task, count):
    """The same task with a val split of its first `count` instances (same seeds, same scorer)."""
    splits = {**task.splits, "val": Split(seed=task.splits["val"].seed, count=count)}
    return dataclasses.replace(task, splits=splits, _instances={})


def plain_cost(F, D, P, a, lam=0.5):
    """The spec's objective in plain Python, independent of the scorer's NumPy version."""
    n = len(a)
    quadratic = sum(F[i][j] * D[a[i]][a[j]] for i in range(n) for j in range(n))
    return quadratic - lam * sum(P[i][a[i]] for i in range(n))


# --- the generator and scorer, directly ---------------------------------------------------

def test_cost_and_utility_on_a_hand_made_3x3_case(task):
    scorer = task.scorer
    F = np.array([[0, 2, 0], [1, 0, 3], [0, 0, 1]], dtype=float)
    D = np.array([[0, 1, 4], [2, 0, 5], [3, 6, 1]], dtype=float)
    P = np.array([[0.2, 0.4, 0.6], [0.1, 0.3, 0.5], [0.9, 0.8, 0.7]])
    # a = [2, 0, 1]: F01 D20 + F10 D02 + F12 D01 + F22 D11 = 2*3 + 1*4 + 3*1 + 1*0 = 13;
    # preferences P02 + P10 + P21 = 0.6 + 0.1 + 0.8 = 1.5, weighted by 0.5.
    assert scorer.assignment_cost(F, D, P, [2, 0, 1]) == pytest.approx(13 - 0.75)
    # identity: 2*1 + 1*2 + 3*5 + 1*1 = 20; preferences 0.2 + 0.3 + 0.7 = 1.2.
    assert scorer.assignment_cost(F, D, P, [0, 1, 2]) == pytest.approx(20 - 0.6)
    costs = {a: plain_cost(F, D, P, a) for a in itertools.permutations(range(3))}
    for a, c in costs.items():
        assert scorer.assignment_cost(F, D, P, list(a)) == pytest.approx(c)
    mean, best = sum(costs.values()) / 6, min(costs.values())
    assert scorer.random_permutation_mean(F, D, P) == pytest.approx(mean)
    answer = scorer.answer_for(F, D, P, np.random.default_rng(0))
    assert answer["reference"] == pytest.approx(best)
    best_assignment = min(costs, key=costs.get)
    args = [F.tolist(), D.tolist(), P.tolist()]
    assert scorer.score(args, answer, list(best_assignment), 0.0) == pytest.approx(1.0)
    # The spec's runtime term: seconds are added to the cost.
    assert scorer.score(args, answer, list(best_assignment), 0.25) == pytest.approx(1 - 0.25 / (mean - best))
    worst = max(costs, key=costs.get)
    assert scorer.score(args, answer, list(worst), 0.0) == 0.0  # worse than random: clamped
    middle = sorted(costs, key=costs.get)[2]
    assert scorer.score(args, answer, list(middle), 0.0) == pytest.approx(
        max(0.0, (mean - costs[middle]) / (mean - best)))


def test_mean_and_swap_deltas_match_brute_force(task):
    scorer = task.scorer
    rng = np.random.default_rng(11)
    F, D, P = rng.random((3, 6, 6))
    costs = [plain_cost(F, D, P, a) for a in itertools.permutations(range(6))]
    assert scorer.random_permutation_mean(F, D, P) == pytest.approx(sum(costs) / len(costs))
    perms = np.argsort(rng.random((3, 6)), axis=1)
    deltas = scorer.swap_deltas(F, D, P, perms)
    for b, perm in enumerate(perms):
        base = plain_cost(F, D, P, perm)
        for r, s in itertools.product(range(6), repeat=2):
            swapped = perm.copy()
            swapped[r], swapped[s] = swapped[s], swapped[r]
            assert deltas[b, r, s] == pytest.approx(plain_cost(F, D, P, swapped) - base, abs=1e-12)


def test_reference_search_finds_the_optimum_of_small_instances(task):
    scorer = task.scorer
    rng = np.random.default_rng(5)
    perms = np.array(list(itertools.permutations(range(7))))
    for _ in range(3):
        F, D, P = rng.random((3, 7, 7))
        quadratic = (F[None] * D[perms[:, :, None], perms[:, None, :]]).sum(axis=(1, 2))
        costs = quadratic - 0.5 * P[np.arange(7), perms].sum(axis=1)
        reference, assignment = scorer.reference_search(F, D, P, rng)
        assert reference == pytest.approx(costs.min(), abs=1e-9)
        assert scorer.assignment_cost(F, D, P, assignment) == pytest.approx(reference)


def test_instances_are_uniform_matrices_and_seeded(task):
    meta = tomllib.loads((FOLDER / "task.toml").read_text())
    assert meta["time_limit_s"] == 0.5 and meta["utility_range"] == [0.0, 1.0]
    assert meta["splits"]["val"] == {"seed": 4321, "count": 10}
    assert meta["splits"]["test"] == {"seed": 5678, "count": 20}
    values = []
    for instance in task.instances("val"):
        assert len(instance.args) == 3
        for matrix, name in zip(instance.args, "FDP"):
            assert all(type(v) is float for v in matrix[0])  # plain data for the sandbox
            array = np.array(matrix)
            assert array.shape == (15, 15) and array.min() >= 0.0 and array.max() < 1.0
            assert (array == instance.answer[name]).all()
            values.append(array)
        answer = instance.answer
        assert answer["reference"] < answer["random_mean"]
        assert sorted(answer["reference_assignment"]) == list(range(15))
        assert task.scorer.score(instance.args, answer, answer["reference_assignment"], 0.0) == pytest.approx(1.0)
    values = np.concatenate([v.ravel() for v in values])
    assert 0.48 < values.mean() < 0.52 and 0.08 < values.var() < 0.09  # uniform on [0, 1)
    F = np.array(task.instances("val")[0].args[0])
    assert not (F == F.T).all()  # not symmetric: the general (asymmetric) objective applies
    again = load_task_folder(FOLDER)
    assert again.instances("val")[4].args == task.instances("val")[4].args
    assert again.instances("val")[4].answer["reference"] == task.instances("val")[4].answer["reference"]


def test_score_accepts_only_permutations_of_range_15(task):
    instance = task.instances("val")[2]
    args, answer = instance.args, instance.answer
    score = task.scorer.score
    perm = list(answer["reference_assignment"])
    assert score(args, answer, perm, 0.0) == pytest.approx(1.0)
    assert score(args, answer, [float(v) for v in perm], 0.0) == pytest.approx(1.0)
    identity = list(range(15))
    assert 0.0 <= score(args, answer, identity, 0.0) < 0.6
    malformed = [
        [v + 1 for v in perm], [0] * 15, perm + [perm[0]], perm[:-1], perm[:-1] + [perm[0]],
        [[v] for v in perm], [v + 0.5 for v in perm], [v - 15 for v in perm], [str(v) for v in perm],
        np.eye(15, dtype=int)[perm].tolist(), {str(i): v for i, v in enumerate(perm)}, None, 3,
        np.array(perm), np.array(perm)[:, None], [True, False] * 7 + [True], [float("nan")] * 15,
        " ".join(map(str, perm)),
    ]
    for bad in malformed:
        assert score(args, answer, bad, 0.0) == 0.0, bad


# --- through the sandbox, as in a run -----------------------------------------------------

async def test_seed_is_deterministic_and_its_utility_stable(pool, task):
    instances = task.instances("val")
    outputs = []
    for _ in range(2):
        run = await pool.run_solution(task.seed_source, task.entry, [i.args for i in instances],
                                      seeds=[i.seed for i in instances], per_call_s=task.time_limit_s,
                                      arg_types=task.arg_types)
        assert all(r.ok for r in run.results), [r.error for r in run.results]
        outputs.append([r.value for r in run.results])
    assert outputs[0] == outputs[1]  # the assignments repeat exactly
    scores = []
    # A fresh evaluator each time, and a freshly loaded task the second time: nothing cached.
    for loaded in (task, load_task_folder(FOLDER)):
        result = await evaluator(pool).evaluate(loaded, loaded.seed_source, "val", "t")
        assert result.failures == 0, result.failure_reasons
        scores.append(result.utility)
    # Only the runtime term (seconds / (E - R), about 0.011 per 0.1 s) can differ.
    assert abs(scores[0] - scores[1]) < 0.02
    assert 0.8 < scores[0] < 0.95


async def test_multistart_descent_scores_clearly_above_the_seed_near_the_top(pool, task):
    ev = evaluator(pool)
    seed, good = await asyncio.gather(ev.evaluate(task, task.seed_source, "val", "t"),
                                      ev.evaluate(task, MULTISTART_DESCENT, "val", "t"))
    assert good.failures == 0, good.failure_reasons
    # 1.0 is the best known assignment, less the runtime term.
    assert good.utility >= 0.95 and good.utility >= seed.utility + 0.05, (seed, good)


async def test_malformed_outputs_never_score(pool, task):
    small = first_instances(task, 3)
    ev = evaluator(pool)
    seed = await ev.evaluate(small, small.seed_source, "val", "t")
    assert seed.utility > 0.6
    floats = await ev.evaluate(small, AS_FLOATS, "val", "t")  # the seed's assignment as floats
    assert floats.utility == pytest.approx(seed.utility, abs=0.01)
    identity = await ev.evaluate(small, IDENTITY, "val", "t")
    assert identity.failures == 0 and identity.utility < seed.utility
    names = list(MALFORMED)
    results = await asyncio.gather(*(ev.evaluate(small, MALFORMED[name], "val", "t") for name in names))
    for name, result in zip(names, results):
        assert result.utility == 0.0, name
        assert result.failures == 0, (name, result.failure_reasons)  # ran fine; the scorer said no


async def test_a_solution_that_sleeps_past_the_limit_fails(pool, task):
    result = await evaluator(pool).evaluate(task, SLEEPS_PAST_LIMIT, "val", "t")
    assert result.utility == 0.0
    assert result.failures == result.instances == 10
    assert any("timed out" in reason for reason in result.failure_reasons)


# --- the grey-box description -------------------------------------------------------------

def test_description_scores_like_the_hidden_scorer_and_hides_the_seeds(task):
    namespace = {}
    exec(task.description, namespace)
    # best_known_cost is the hidden part of the grey box: supply the scorer's reference search.
    rng = np.random.default_rng(0)
    namespace["best_known_cost"] = lambda F, D, P: task.scorer.reference_search(F, D, P, rng)[0]
    utility = namespace["utility"]
    np.random.seed(2)
    assert 0.75 < utility(task.seed_source) <= 1.0
    assert utility(MALFORMED["one-indexed"]) == 0.0
    assert utility(MALFORMED["extra entry"]) == 0.0
    assert utility("def algorithm(F, D, P):\n    raise ValueError\n") == 0.0
    for hidden in ("4321", "5678", "scorer", "tabu"):
        assert hidden not in task.description


# --- scripted responses -------------------------------------------------------------------

def test_scripted_prompts_for_this_task_are_recognised(task):
    library = ScriptedLibrary.load()
    prompt = f"Improve:\n```python\n{task.seed_source}\n```\nScored by:\n```python\n{task.description}\n```\n"
    assert library.classify(prompt) == ("mqap", 0)
    improver = (REPO / "tasks" / "improvers" / "seed.py").read_text()
    meta_prompt = f"```python\n{improver}\n```\n```python\n{meta_utility_description(RunConfig(task=task.name), task)}\n```"
    assert library.classify(meta_prompt) == ("improver", 0)
    marker = next(m for kind, m in library.markers if kind == "mqap")
    others = [improver]
    for name, folder in discover_tasks(task_search_dirs()).items():
        if name != "mqap" and (folder / "seed.py").is_file():
            others += [(folder / "seed.py").read_text(), (folder / "description.py").read_text()]
    assert len(others) >= 3
    for other in others:
        assert marker.search(other) is None
    assert marker.search(task.description) is None  # only the seed's def line matches


async def test_scripted_responses_score_within_their_levels(pool, task):
    library = ScriptedLibrary.load()
    entries = library.by_kind["mqap"]
    assert {e.level for e in entries} == {-1, 0, 1, 2, 3}
    assert {e.slug for e in entries} == {p.stem for p in LIBRARY.glob("*.md")}
    ev = evaluator(pool)
    codes = [extract_code(entry.text) for entry in entries]
    for entry, code in zip(entries, codes):
        assert code.startswith(f"# scripted: mqap/{entry.slug}\n"), entry.slug
        assert library.classify(code) == ("mqap", max(entry.level, 0))
    results = await asyncio.gather(*(ev.evaluate(task, code, "val", "t") for code in codes))
    check_levels(BANDS, [(entry.slug, entry.level, result.utility) for entry, result in zip(entries, results)])
    for entry, result in zip(entries, results):
        if entry.level >= 0:
            assert result.failures == 0, (entry.slug, result.failure_reasons)
