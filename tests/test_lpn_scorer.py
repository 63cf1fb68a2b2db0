"""The LPN hidden scorer on known solutions, through the sandbox as in a real run."""

from __future__ import annotations

from stop_tui.engine.instance_secret import keyed_seed
from stop_tui.engine.bus import EventBus
from stop_tui.engine.evaluation import Evaluator, ProgramRegistry
from stop_tui.engine.tasks import load_task_folder

from .conftest import REPO
from .solutions import BROADCAST_COLUMN, GAUSSIAN_BRUTE_FORCE, OUT_OF_RANGE, WRONG_LENGTH


def evaluator(pool):
    bus = EventBus()
    return Evaluator(pool, bus, ProgramRegistry(bus))


async def test_random_guessing_seed_scores_about_half(pool, lpn):
    result = await evaluator(pool).evaluate(lpn, lpn.seed_source, "test", "t")
    assert result.instances == 50 and result.failures == 0
    assert 0.4 <= result.utility <= 0.6


async def test_seed_utility_is_stable_across_evaluations(pool):
    # A fresh task object and evaluator each time: nothing is cached between them.
    scores = []
    for _ in range(2):
        task = load_task_folder(REPO / "tasks" / "lpn")
        scores.append((await evaluator(pool).evaluate(task, task.seed_source, "val", "t")).utility)
    assert scores[0] == scores[1]


async def test_correct_learner_scores_at_least_0_9(pool, lpn):
    for split in ("val", "test"):
        result = await evaluator(pool).evaluate(lpn, GAUSSIAN_BRUTE_FORCE, split, "t")
        assert result.utility >= 0.9, (split, result)


async def test_malformed_outputs_score_zero_never_above_one(pool, lpn):
    ev = evaluator(pool)
    for source in (BROADCAST_COLUMN, WRONG_LENGTH, OUT_OF_RANGE):
        result = await ev.evaluate(lpn, source, "val", "t")
        assert result.utility == 0.0, source
        assert result.failures == 0  # they ran fine; the scorer rejected their output


def test_scorer_rejects_shapes_directly(lpn):
    instance = lpn.instances("val")[0]
    n = len(instance.answer)
    assert lpn.scorer.score(instance.args, instance.answer, [[0]] * n, 0.0) == 0.0
    assert lpn.scorer.score(instance.args, instance.answer, instance.answer, 0.0) == 1.0
    assert lpn.scorer.score(instance.args, instance.answer, instance.answer[:-1], 0.0) == 0.0
    assert lpn.scorer.score(instance.args, instance.answer, "0" * n, 0.0) == 0.0
    assert lpn.scorer.score(instance.args, instance.answer, [True] * n, 0.0) <= 1.0


def test_splits_are_seeded_and_sized(lpn):
    assert len(lpn.instances("val")) == 20 and len(lpn.instances("test")) == 50
    # Seeded from 4321 and 5678 as the reference, keyed by the engine's secret (hidden instances stay hidden).
    assert lpn.instances("val")[0].seed == keyed_seed(4321, "instance:lpn") != 4321
    assert lpn.instances("test")[0].seed == keyed_seed(5678, "instance:lpn")
    assert lpn.instances("test")[0].seed != keyed_seed(5678, "instance:lpn", b"another machine's secret")
    again = load_task_folder(REPO / "tasks" / "lpn")
    assert again.instances("val")[3].args == lpn.instances("val")[3].args
