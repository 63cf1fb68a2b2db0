"""Task folders: what the LM is shown, the hidden scorer that judges, the seed solution.

A task folder holds:
  task.toml       metadata: name, title, summary, entry, signature, arg_types, time_limit_s,
                  utility_range, [splits.val] / [splits.test] (seed, count)
  description.py  the grey-box utility shown to the LM (`utility.str`)
  scorer.py       hidden: generate(seed) -> (args, answer) and
                  score(args, answer, output, elapsed_s) -> float; runs in the engine only
  seed.py         the seed solution, defining the entry function
See docs/task-format.md.
"""

from __future__ import annotations

import importlib.util
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..paths import bundled_tasks_dir

REQUIRED_FILES = ("task.toml", "description.py", "scorer.py", "seed.py")


class TaskError(Exception):
    """A task that cannot be found or loaded; the message is one sentence for a user."""


@dataclass(frozen=True)
class Split:
    seed: int
    count: int


@dataclass(frozen=True)
class Instance:
    seed: int
    args: list[Any]
    answer: Any


@dataclass
class Task:
    name: str
    title: str
    summary: str
    entry: str
    signature: str
    arg_types: list[str]
    time_limit_s: float
    utility_range: tuple[float, float]
    splits: dict[str, Split]
    folder: Path
    description: str
    seed_source: str
    scorer: ModuleType
    _instances: dict[str, list[Instance]] = field(default_factory=dict, repr=False)

    def instances(self, split: str) -> list[Instance]:
        """The split's hidden instances, generated once from their seeds (seed + i)."""
        if split not in self._instances:
            spec = self.splits[split]
            generated = []
            for i in range(spec.count):
                args, answer = self.scorer.generate(spec.seed + i)
                generated.append(Instance(seed=spec.seed + i, args=args, answer=answer))
            self._instances[split] = generated
        return self._instances[split]


def task_search_dirs(extra: list[Path] | None = None) -> list[Path]:
    return [*(extra or []), bundled_tasks_dir()]


def discover_tasks(search_dirs: list[Path]) -> dict[str, Path]:
    """Task name -> folder. Earlier directories win, so users can shadow a bundled task."""
    found: dict[str, Path] = {}
    for directory in search_dirs:
        if not directory.is_dir():
            continue
        for folder in sorted(directory.iterdir()):
            if (folder / "task.toml").is_file() and folder.name not in found:
                found[folder.name] = folder
    return found


def load_task(name: str, search_dirs: list[Path]) -> Task:
    folders = discover_tasks(search_dirs)
    if name not in folders:
        known = ", ".join(sorted(folders)) or "none"
        raise TaskError(f"unknown task {name!r}; known tasks: {known}.")
    return load_task_folder(folders[name])


def load_task_folder(folder: Path) -> Task:
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise TaskError(f"task folder {folder} is missing {', '.join(missing)}.")
    try:
        meta = tomllib.loads((folder / "task.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TaskError(f"{folder / 'task.toml'} is not valid TOML: {exc}.") from None
    try:
        splits = {name: Split(seed=int(s["seed"]), count=int(s["count"])) for name, s in meta["splits"].items()}
        if not {"val", "test"} <= splits.keys():
            raise KeyError("splits.val and splits.test")
        low, high = meta.get("utility_range", [0.0, 1.0])
        task = Task(
            name=str(meta.get("name", folder.name)),
            title=str(meta.get("title", folder.name)),
            summary=str(meta.get("summary", "")),
            entry=str(meta.get("entry", "algorithm")),
            signature=str(meta["signature"]),
            arg_types=[str(t) for t in meta.get("arg_types", [])],
            time_limit_s=float(meta["time_limit_s"]),
            utility_range=(float(low), float(high)),
            splits=splits,
            folder=folder,
            description=(folder / "description.py").read_text(encoding="utf-8"),
            seed_source=(folder / "seed.py").read_text(encoding="utf-8"),
            scorer=_import_scorer(folder),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TaskError(f"{folder / 'task.toml'} lacks or has a bad field: {exc}.") from None
    for function in ("generate", "score"):
        if not callable(getattr(task.scorer, function, None)):
            raise TaskError(f"{folder / 'scorer.py'} defines no {function}() function.")
    return task


def _import_scorer(folder: Path) -> ModuleType:
    path = folder / "scorer.py"
    spec = importlib.util.spec_from_file_location(f"stop_tui_task_scorer_{folder.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise TaskError(f"{path} failed to import: {type(exc).__name__}: {exc}.") from None
    return module
