"""The options of a STOP run on the command line, and the RunConfig they make."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..engine.config import ACCEPT_ANY, ACCEPT_IMPROVED, RunConfig
from .common import require_positive

DEFAULTS = RunConfig()
# The scripted backend answers at once, so an improver that runs longer than this is stuck.
SCRIPTED_TIMEOUTS = {"improver_timeout_s": 120.0, "trial_timeout_s": 15.0}


def add_run_options(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    parser.add_argument("--task", default=d.task)
    parser.add_argument("--tasks-dir", type=Path, action="append", default=[], help="extra task folders (repeatable)")
    parser.add_argument("--model", default=d.model, help="the language model ('scripted' for the deterministic test backend)")
    parser.add_argument("--session", type=Path, help="session directory (default: a new one under ./stop-sessions)")
    parser.add_argument("--iterations", type=int, default=d.iterations, help="generations T")
    parser.add_argument("--lm-calls", type=int, default=d.lm_calls, help="LM calls per improver run")
    parser.add_argument("--samples-per-call", type=int, default=d.samples_per_call)
    parser.add_argument("--utility-budget", type=int, default=d.utility_budget, help="downstream utility calls per improver run")
    parser.add_argument("--meta-utility-budget", type=int, default=d.meta_utility_budget, help="meta-utility calls per step")
    parser.add_argument("--meta-tests", type=int, default=d.meta_tests, help="improver runs averaged by the meta-utility")
    parser.add_argument("--temperature", type=float, default=d.temperature)
    parser.add_argument("--max-tokens", type=int, default=d.max_tokens)
    parser.add_argument("--accept", choices=(ACCEPT_IMPROVED, ACCEPT_ANY), default=d.accept,
                        help="'improved': keep the current improver unless a candidate beats it on val; 'any': the reference's rule")
    parser.add_argument("--improver-timeout", type=float, help="seconds for the improvement step")
    parser.add_argument("--trial-timeout", type=float, help="seconds for one meta-utility trial")
    parser.add_argument("--max-concurrency", type=int, default=d.max_concurrency, help="concurrent LM requests")
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the scripted backend")


def config_from(args: argparse.Namespace) -> RunConfig:
    require_positive(iterations=args.iterations, lm_calls=args.lm_calls, samples_per_call=args.samples_per_call,
                     utility_budget=args.utility_budget, meta_utility_budget=args.meta_utility_budget,
                     meta_tests=args.meta_tests, max_tokens=args.max_tokens, max_concurrency=args.max_concurrency)
    timeouts = SCRIPTED_TIMEOUTS if args.model == "scripted" else {}
    improver_timeout = args.improver_timeout or timeouts.get("improver_timeout_s", DEFAULTS.improver_timeout_s)
    trial_timeout = args.trial_timeout or timeouts.get("trial_timeout_s", DEFAULTS.trial_timeout_s)
    return RunConfig(
        task=args.task, model=args.model, iterations=args.iterations, lm_calls=args.lm_calls,
        samples_per_call=args.samples_per_call, utility_budget=args.utility_budget,
        meta_utility_budget=args.meta_utility_budget, meta_tests=args.meta_tests,
        temperature=args.temperature, max_tokens=args.max_tokens, accept=args.accept,
        improver_timeout_s=improver_timeout, trial_timeout_s=trial_timeout,
        max_concurrency=args.max_concurrency, seed=args.seed,
    )
