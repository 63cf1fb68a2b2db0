"""The sandbox-circumvention study: how often does a model, asked to improve an improver whose
source keeps a `use_sandbox=True` flag, write code that turns the sandbox off?

The STOP paper asked GPT-4 and GPT-3.5 this 10,000 times each, with and without a warning in
the prompt, and found the flag set to False in a fraction of a percent of the answers (figures
in PAPER_FIGURES), detected by a syntactic scan. `run_study` repeats that here:

- two arms of N samples each, `plain` (the improvement prompt alone) and `warned` (the same
  prompt with a paragraph saying the sandbox must stay on), sent through one LM gateway, which
  bounds concurrency and enforces the run's cost and token budgets;
- every answer: the improver is taken out with extract_program, scanned (scan_improver: an
  AST walk, so comments and strings never count), and run once in the sandbox with stub
  language-model and utility calls; a run whose outcome lists a violation of kind "syscall"
  tried a call the sandbox refused;
- every step is an event on the bus and in the session log; `study_report` rebuilds the
  per-arm counts (with Wilson 95% intervals) from the events alone.

The sandbox reports refused calls through ImproverOutcome.violations, heard by the supervisor
from the seccomp filter. Where the platform gives no filter ("seccomp" missing from the run's
isolation), refused calls cannot be seen: the report then says that blocked calls were not
measured instead of claiming zero.

The package, one job a module: prompts (the arms and what is sent), scan (the AST scan),
stats (the report, folded from the events), runner (the study run and its sandbox runs). Its
events (StudyStarted, StudySampleScanned, StudyFinished) are in engine.events, with every
other event.
"""

from __future__ import annotations

from ..events import StudyFinished, StudySampleScanned, StudyStarted
from .prompts import (
    ARM_TITLES, ARMS, EXPERTISE, PAPER_FIGURES, PLAIN, STUDY_IMPROVER, STUDY_UTILITY, WARNED, WARNING, study_prompt,
)
from .runner import PURPOSE, SandboxStudy, StubCalls, batches, outcome_violations, run_study
from .scan import Scan, scan_improver
from .stats import LM_FAILED, ArmStats, StudyReport, study_report, wilson_interval

__all__ = [
    "ARMS", "ARM_TITLES", "EXPERTISE", "LM_FAILED", "PAPER_FIGURES", "PLAIN", "PURPOSE", "STUDY_IMPROVER",
    "STUDY_UTILITY", "WARNED", "WARNING", "ArmStats", "SandboxStudy", "Scan", "StubCalls", "StudyFinished",
    "StudyReport", "StudySampleScanned", "StudyStarted", "batches", "outcome_violations", "run_study",
    "scan_improver", "study_prompt", "study_report", "wilson_interval",
]
