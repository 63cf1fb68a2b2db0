"""The headless view: rich progress bars while a run goes, a table of generations at the end."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .engine.config import RunConfig
from .engine.events import (
    CandidateScored, Event, GenerationDecided, GenerationStarted, LMRequestFinished,
    LMRequestRefused, MetaTrialFinished, Notice, RunBudgetReached, RunStarted, SandboxViolation,
)
from .engine.summary import GenerationRow, LMUsage


class HeadlessProgress:
    """Subscribes to the bus and draws progress; holds no state the events do not carry."""

    def __init__(self, console: Console, config: RunConfig) -> None:
        self.console = console
        self.config = config
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"), console=console, transient=False,
        )
        self.generations = self.progress.add_task("generations", total=config.iterations, info="")
        self.trials = self.progress.add_task("meta-utility trials", total=None, info="")
        self.lm = self.progress.add_task("LM calls", total=None, info="")
        self._usage = LMUsage()
        self._trials_done = 0

    def __enter__(self) -> HeadlessProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def handle(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            isolation = ", ".join(event.sandbox_isolation) or "process group only"
            self.console.print(f"run [bold]{escape(event.run_id)}[/] · task {escape(event.task)} · "
                               f"model [bold]{escape(event.model)}[/] · sandbox: {escape(isolation)}")
        elif isinstance(event, GenerationStarted):
            self.progress.update(self.generations, info=f"generation {event.generation} running")
        elif isinstance(event, MetaTrialFinished):
            self._trials_done += 1
            self.progress.update(self.trials, completed=self._trials_done)
        elif isinstance(event, LMRequestFinished):
            self._usage.add(event)
            self.progress.advance(self.lm)
            self.progress.update(self.lm, info=usage_line(self._usage))
        elif isinstance(event, LMRequestRefused):
            self._usage.refused_requests += 1
            self.progress.update(self.lm, info=usage_line(self._usage))
        elif isinstance(event, Notice):
            style = "yellow" if event.level == "warning" else "dim"
            self.console.print(f"[{style}]note:[/] {escape(event.message)}")
        elif isinstance(event, RunBudgetReached):
            self.console.print(f"[bold yellow]{escape(event.message)}[/]: finishing the work in flight; "
                               "no new LM requests")
        elif isinstance(event, CandidateScored):
            self.progress.update(self.trials, info=f"last: {escape(event.candidate_id)} val {event.val:.3f}")
        elif isinstance(event, GenerationDecided):
            self.progress.advance(self.generations)
            self.progress.update(self.generations, info=f"generation {event.generation} decided")
            verdict = "accepted" if event.accepted else "kept current"
            # The reason can quote an improver's own error text: printed as text, never as markup.
            self.console.print(f"generation {event.generation}: {verdict} ({escape(event.reason)})")
        elif isinstance(event, SandboxViolation):
            self.console.print(f"[bold red]sandbox:[/] {violation_line(event)}", highlight=False)


def violation_line(event: SandboxViolation) -> str:
    """One line naming who tried what; every part of it escaped (it quotes what the program sent)."""
    who = event.candidate_id or event.context
    return (f"{escape(event.program_kind)} {escape(event.program_sha[:8])} ({escape(who)}) "
            f"{escape(event.kind)} violation: {escape(event.detail)}")


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def format_cost(cost_usd: float | None) -> str:
    if cost_usd is None:
        return "cost unknown"
    return f"${cost_usd:.4f}" if cost_usd < 100 else f"${cost_usd:,.2f}"


def usage_line(usage: LMUsage) -> str:
    """Tokens, cost, failures: the LM progress bar's caption."""
    parts = [f"{usage.prompt_tokens:,} in + {usage.completion_tokens:,} out tokens", format_cost(usage.cost_usd)]
    if usage.failed_requests:
        parts.append(f"{usage.failed_requests} failed")
    if usage.refused_requests:
        parts.append(f"{usage.refused_requests} refused")
    return " · ".join(parts)


def generation_table_view(rows: list[GenerationRow], model: str) -> Table:
    table = Table(title=f"Generations (model: {model})", title_justify="left")
    for column in ("gen", "proposed", "val", "test", "decision", "current", "current val", "current test", "LM calls",
                   "tokens", "cost"):
        table.add_column(column, justify="right" if column not in ("proposed", "decision", "current") else "left")
    for row in rows:
        decision = "seed" if row.generation == 0 else ("accepted" if row.accepted else "rejected")
        if row.decided_by == "user" and row.generation:
            decision += " (user)"
        table.add_row(
            str(row.generation), (row.proposed_sha or "—")[:8], _fmt(row.proposed_val), _fmt(row.proposed_test),
            decision, row.current_sha[:8], _fmt(row.current_val), _fmt(row.current_test),
            str(row.lm_calls), f"{row.tokens:,}", format_cost(row.cost_usd).removeprefix("cost "),
        )
    return table
