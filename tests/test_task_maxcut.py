"""The weighted MaxCut task: its hidden scorer, its description, and its scripted responses."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
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
from stop_tui.engine.tasks import Split, discover_tasks, load_task_folder, task_search_dirs

from .conftest import REPO
from .solutions_maxcut import ALL_ONE_SIDE, AS_BOOLEANS, AS_FLOATS, MALFORMED, SLEEPS_PAST_LIMIT, TABU

FOLDER = REPO / "tasks" / "maxcut"
LIBRARY = REPO / "stop_tui" / "engine" / "lm" / "scripted_library" / "maxcut"
# Level bands of the scripted responses, as index.toml states them (val utility).
BANDS = {-1: (0.0, 0.0), 0: (0.0, 0.60), 1: (0.60, 0.70), 2: (0.70, 0.75), 3: (0.75, 1.0)}


@pytest.fixture(scope="module")
def task():
    return load_task_folder(FOLDER)


def evaluator(pool):
    bus = EventBus()
    return Evaluator(pool, bus, ProgramRegistry(bus))


def first_graphs(task, count):
    """The same task with a val split of its first `count` graphs (same seeds, same scorer)."""
    splits = {**task.splits, "val": Split(seed=task.splits["val"].seed, count=count)}
    return dataclasses.replace(task, splits=splits, _instances={})


def brute_force_cut(matrix, sides):
    """Plain-Python cut weight, independent of the scorer's matrix products."""
    n = len(matrix)
    return sum(matrix[i][j] for i in range(n) for j in range(i + 1, n) if sides[i] != sides[j])


def greedy(matrix):
    """The seed's rule in plain Python: opposite the heavier already-placed side."""
    sides = []
    for v, row in enumerate(matrix):
        to_0 = sum(row[u] for u in range(v) if sides[u] == 0)
        to_1 = sum(row[u] for u in range(v) if sides[u] == 1)
        sides.append(1 if to_0 > to_1 else 0)
    return sides


# --- the generator and scorer, directly ---------------------------------------------------

def test_cut_weight_and_utility_on_a_hand_made_graph(task):
    scorer = task.scorer
    matrix = np.zeros((4, 4), dtype=np.int64)
    for (i, j), w in {(0, 1): 3, (0, 2): 1, (1, 2): 2, (2, 3): 5, (1, 3): 4}.items():
        matrix[i, j] = matrix[j, i] = w
    assert scorer.cut_weight(matrix, np.array([0, 1, 0, 1])) == 3 + 2 + 5
    assert scorer.cut_weight(matrix, np.array([0, 1, 1, 0])) == 3 + 1 + 4 + 5
    assert scorer.cut_weight(matrix, np.array([1, 1, 1, 1])) == 0
    answer = scorer.answer_for(matrix)
    assert answer["total"] == 15 and answer["n"] == 4
    # Signs x: cut = W/2 - x'Ax/4, so the bound is W/2 + 4 |lambda_min| / 4.
    assert answer["bound"] == pytest.approx(7.5 - np.linalg.eigvalsh(matrix.astype(float))[0])
    best = max(brute_force_cut(matrix, s) for s in itertools.product((0, 1), repeat=4))
    assert best == 13 and best <= answer["bound"]
    args = [matrix.tolist()]
    expected = (13 - 7.5) / (answer["bound"] - 7.5)
    assert task.scorer.score(args, answer, [0, 1, 1, 0], 0.0) == pytest.approx(expected)
    assert task.scorer.score(args, answer, [1, 0, 0, 1], 0.0) == pytest.approx(expected)  # same cut
    assert task.scorer.score(args, answer, [0, 0, 0, 0], 0.0) == 0.0  # valid, cuts nothing
    assert task.scorer.score(args, answer, [0, 1, 0, 1], 0.0) == pytest.approx((10 - 7.5) / (answer["bound"] - 7.5))


def test_spectral_bound_is_never_below_the_maximum_cut(task):
    scorer = task.scorer
    rng = np.random.default_rng(7)
    for n in (6, 9, 12):
        for _ in range(5):
            matrix = scorer.random_graph(rng, n)
            answer = scorer.answer_for(matrix)
            signs = np.array(list(itertools.product((-1, 1), repeat=n - 1)))
            signs = np.hstack([signs, np.ones((len(signs), 1), dtype=int)])  # node n-1 fixed: halves the work
            cuts = (matrix.sum() - np.einsum("ki,ij,kj->k", signs, matrix, signs)) // 4
            assert cuts.max() <= answer["bound"] + 1e-9
            assert 0.0 < scorer.utility_of_cut(cuts.max(), answer["total"], answer["bound"]) <= 1.0


def test_graphs_are_symmetric_weighted_and_seeded(task):
    meta = tomllib.loads((FOLDER / "task.toml").read_text())
    assert meta["time_limit_s"] == 0.1 and meta["utility_range"] == [0.0, 1.0]
    assert meta["splits"]["val"] == {"seed": 4321, "count": 40}
    assert meta["splits"]["test"] == {"seed": 5678, "count": 100}
    sizes, pairs, edges, weight = [], 0, 0, 0
    for instance in task.instances("val"):
        (rows,) = instance.args
        assert all(type(w) is int for w in rows[0])  # plain data for the sandbox
        matrix = np.array(rows)
        n = len(matrix)
        assert matrix.shape == (n, n) and 50 <= n <= 200
        assert (matrix == matrix.T).all() and (np.diagonal(matrix) == 0).all()
        assert matrix.min() >= 0 and matrix.max() <= 10
        assert (instance.answer["matrix"] == matrix).all() and instance.answer["total"] * 2 == matrix.sum()
        assert instance.answer["bound"] > instance.answer["total"] / 2
        upper = matrix[np.triu_indices(n, 1)]
        sizes.append(n)
        pairs += len(upper)
        edges += int((upper > 0).sum())
        weight += int(upper.sum())
    assert 0.39 < edges / pairs < 0.41  # edge probability 0.4
    assert 5.4 < weight / edges < 5.6  # weights uniform on 1..10
    assert min(sizes) <= 60 and max(sizes) >= 190  # n uniform on 50..200
    again = load_task_folder(FOLDER)
    assert again.instances("val")[5].args == task.instances("val")[5].args
    assert again.instances("val")[5].args != again.instances("val")[6].args


def test_score_accepts_only_n_labels_in_0_1(task):
    instance = task.instances("val")[0]
    args, answer = instance.args, instance.answer
    (matrix,) = args
    sides = greedy(matrix)
    n = len(sides)
    expected = task.scorer.utility_of_cut(brute_force_cut(matrix, sides), answer["total"], answer["bound"])
    assert 0.3 < expected < 0.8
    score = task.scorer.score
    assert score(args, answer, sides, 0.0) == pytest.approx(expected)
    assert score(args, answer, [bool(v) for v in sides], 0.0) == pytest.approx(expected)
    assert score(args, answer, [float(v) for v in sides], 0.0) == pytest.approx(expected)
    assert score(args, answer, [1 - v for v in sides], 0.0) == pytest.approx(expected)
    assert score(args, answer, [1] * n, 0.0) == 0.0
    malformed = [
        sides[:-1], sides + [0], [v + 1 for v in sides], [2 * v - 1 for v in sides],
        ["ab"[v] for v in sides], [[v] for v in sides], [v + 0.5 for v in sides],
        sides[:-1] + [2], "".join(map(str, sides)), {str(i): v for i, v in enumerate(sides)},
        np.array(sides), np.array(sides)[:, None], [float("nan")] * n, None, 1,
        [[i for i in range(n) if sides[i] == 0], [i for i in range(n) if sides[i] == 1]],
    ]
    for bad in malformed:
        assert score(args, answer, bad, 0.0) == 0.0, bad


# --- through the sandbox, as in a run -----------------------------------------------------

async def test_seed_utility_is_stable_across_evaluations(pool, task):
    scores = []
    # A fresh evaluator each time, and a freshly loaded task the second time: nothing cached.
    for loaded in (task, load_task_folder(FOLDER)):
        result = await evaluator(pool).evaluate(loaded, loaded.seed_source, "val", "t")
        assert result.failures == 0, result.failure_reasons
        scores.append(result.utility)
    assert scores[0] == scores[1]
    assert 0.5 < scores[0] < 0.6


async def test_tabu_search_scores_clearly_above_the_seed_near_the_top(pool, task):
    ev = evaluator(pool)
    seed, good = await asyncio.gather(ev.evaluate(task, task.seed_source, "val", "t"),
                                      ev.evaluate(task, TABU, "val", "t"))
    assert good.failures == 0, good.failure_reasons
    # Optimal cuts of these graphs score about 0.76 (see scorer.py); the bound itself is 1.
    assert good.utility >= 0.74 and good.utility >= seed.utility + 0.15, (seed, good)


async def test_malformed_outputs_never_score(pool, task):
    small = first_graphs(task, 6)
    ev = evaluator(pool)
    seed = await ev.evaluate(small, small.seed_source, "val", "t")
    assert seed.utility > 0.4
    for valid in (AS_BOOLEANS, AS_FLOATS):  # the seed's partition, spelled differently
        assert (await ev.evaluate(small, valid, "val", "t")).utility == pytest.approx(seed.utility)
    nothing = await ev.evaluate(small, ALL_ONE_SIDE, "val", "t")
    assert nothing.utility == 0.0 and nothing.failures == 0
    names = list(MALFORMED)
    results = await asyncio.gather(*(ev.evaluate(small, MALFORMED[name], "val", "t") for name in names))
    for name, result in zip(names, results):
        assert result.utility == 0.0, name
        assert result.failures == 0, (name, result.failure_reasons)  # ran fine; the scorer said no


async def test_a_solution_that_sleeps_past_the_limit_fails(pool, task):
    result = await evaluator(pool).evaluate(task, SLEEPS_PAST_LIMIT, "val", "t")
    assert result.utility == 0.0
    assert result.failures == result.instances == 40
    assert any("timed out" in reason for reason in result.failure_reasons)


# --- the grey-box description -------------------------------------------------------------

def test_description_scores_like_the_hidden_scorer_and_hides_the_seeds(task):
    namespace = {}
    exec(task.description, namespace)
    utility = namespace["utility"]
    np.random.seed(3)
    assert 0.45 < utility(task.seed_source) < 0.65
    assert utility(ALL_ONE_SIDE) == 0.0
    assert utility(MALFORMED["column"]) == 0.0
    assert utility("def algorithm(adjacency_matrix):\n    raise ValueError\n") == 0.0
    for hidden in ("4321", "5678", "scorer"):
        assert hidden not in task.description


# --- scripted responses -------------------------------------------------------------------

def test_scripted_prompts_for_this_task_are_recognised(task):
    library = ScriptedLibrary.load()
    prompt = f"Improve:\n```python\n{task.seed_source}\n```\nScored by:\n```python\n{task.description}\n```\n"
    assert library.classify(prompt) == ("maxcut", 0)
    improver = (REPO / "tasks" / "improvers" / "seed.py").read_text()
    meta_prompt = f"```python\n{improver}\n```\n```python\n{meta_utility_description(RunConfig(task=task.name), task)}\n```"
    assert library.classify(meta_prompt) == ("improver", 0)
    marker = next(m for kind, m in library.markers if kind == "maxcut")
    others = [improver]
    for name, folder in discover_tasks(task_search_dirs()).items():
        if name != "maxcut" and (folder / "seed.py").is_file():
            others += [(folder / "seed.py").read_text(), (folder / "description.py").read_text()]
    assert len(others) >= 3
    for other in others:
        assert marker.search(other) is None
    assert marker.search(task.description) is None  # only the seed's def line matches


async def test_scripted_responses_score_within_their_levels(pool, task):
    library = ScriptedLibrary.load()
    entries = library.by_kind["maxcut"]
    assert {e.level for e in entries} == {-1, 0, 1, 2, 3}
    assert {e.slug for e in entries} == {p.stem for p in LIBRARY.glob("*.md")}
    ev = evaluator(pool)
    codes = [extract_code(entry.text) for entry in entries]
    for entry, code in zip(entries, codes):
        assert code.startswith(f"# scripted: maxcut/{entry.slug}\n"), entry.slug
        assert library.classify(code) == ("maxcut", max(entry.level, 0))
    results = await asyncio.gather(*(ev.evaluate(task, code, "val", "t") for code in codes))
    check_levels(BANDS, [(entry.slug, entry.level, result.utility) for entry, result in zip(entries, results)])
    for entry, result in zip(entries, results):
        if entry.level >= 0:
            assert result.failures == 0, (entry.slug, result.failure_reasons)


def test_random_partitions_score_about_zero(task):
    rnd = random.Random(0)
    scores = []
    for instance in task.instances("val")[:10]:
        n = instance.answer["n"]
        scores.append(task.scorer.score(instance.args, instance.answer, [rnd.randint(0, 1) for _ in range(n)], 0.0))
    assert max(scores) < 0.2 and sum(scores) / len(scores) < 0.08
