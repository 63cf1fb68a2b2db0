"""Task folders: what the LM is shown, the hidden scorer that judges, the seed solution.

A task folder holds:
  task.toml       metadata: name, title, summary, entry, signature, arg_types, time_limit_s,
                  utility_range, [splits.val] / [splits.test] (seed, count)
  description.py  the grey-box utility shown to the LM (`utility.str`)
  scorer.py       hidden: generate(seed) -> (args, answer) and
                  score(args, answer, output, elapsed_s) -> float; runs in the engine only
  seed.py         the seed solution, defining the entry function
See docs/task-format.md.

Every problem with a folder is a TaskError whose message names the task and the file, in one
sentence; `check_task_folder` runs all the checks and reports each one (`stop-tui tasks check`).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import numbers
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..paths import bundled_tasks_dir
from .instance_secret import keyed_seed

if TYPE_CHECKING:
    from .sandbox.pool import SandboxPool

REQUIRED_FILES = ("task.toml", "description.py", "scorer.py", "seed.py")
ARG_TYPES = ("plain", "ndarray")  # "ndarray": the solution receives numpy.asarray(argument)
KNOWN_FIELDS = ("name", "title", "summary", "entry", "signature", "arg_types", "time_limit_s",
                "utility_range", "splits")
TASK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class TaskError(Exception):
    """A task that cannot be found or loaded; the message is one sentence for a user."""


class ScorerError(Exception):
    """A hidden scorer that raised or returned something other than a number, for one instance."""


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
        """The split's hidden instances, generated once from their seeds: seed + i, keyed by the
        engine's secret (engine/instance_secret.py), so a program that knows the generator and
        the split's seeds still cannot regenerate them.

        Raises TaskError (naming the task and scorer.py) when generate() raises or returns
        something that cannot be sent to a sandboxed solution.
        """
        if split not in self._instances:
            spec = self.splits[split]
            self._instances[split] = [
                self.make_instance(keyed_seed(spec.seed + i, f"instance:{self.name}"),
                                   call=f"generate() for {split} instance {i} (seed {spec.seed + i}, keyed)")
                for i in range(spec.count)]
        return self._instances[split]

    def make_instance(self, seed: int, call: str | None = None) -> Instance:
        """generate(seed) checked; `call` names it in messages (default: generate(SEED))."""
        where = f"task {self.name}: {self.folder / 'scorer.py'}: {call or f'generate({seed})'}"
        try:
            generated = self.scorer.generate(seed)
        except Exception as exc:
            raise TaskError(f"{where} raised {type(exc).__name__}: {_short(exc)}.") from None
        if not isinstance(generated, (tuple, list)) or len(generated) != 2:
            raise TaskError(f"{where} must return a pair (args, answer), "
                            f"not {_describe(generated)}.")
        args, answer = generated
        if not isinstance(args, (list, tuple)):
            raise TaskError(f"{where} must return args as a list of the solution's "
                            f"arguments, not {_describe(args)}.")
        problem = plain_data_problem(args)
        if problem:
            raise TaskError(f"{where} returned args that are not plain data: {problem}.")
        if self.arg_types and len(args) != len(self.arg_types):
            raise TaskError(f"{where} returned {len(args)} arguments but task.toml's "
                            f"arg_types lists {len(self.arg_types)}.")
        return Instance(seed=seed, args=list(args), answer=answer)

    def score(self, instance: Instance, output: Any, elapsed_s: float) -> float:
        """The hidden scorer's utility of one output, clamped into utility_range.

        Raises ScorerError, naming the task and scorer.py, if score() raises or returns
        anything but a finite real number (a bool, None, a string, NaN, an array...).
        """
        try:
            raw = self.scorer.score(instance.args, instance.answer, output, elapsed_s)
        except (Exception, SystemExit) as exc:
            raise ScorerError(f"scorer error in task {self.name} ({self.folder / 'scorer.py'}): score() raised "
                              f"{type(exc).__name__}: {_short(exc)}") from None
        value = score_number(raw)
        if value is None:
            raise ScorerError(f"scorer error in task {self.name} ({self.folder / 'scorer.py'}): score() returned "
                              f"{_describe(raw)}, not a finite number")
        low, high = self.utility_range
        return min(high, max(low, value))


def score_number(raw: Any) -> float | None:
    """A scorer's return value as a float, or None unless it is a finite real number.

    Python and NumPy ints and floats are numbers; bools (a truthy flag is not a score), None,
    strings, arrays, NaN and infinities are not.
    """
    if isinstance(raw, bool) or not isinstance(raw, numbers.Real):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def plain_data_problem(value: Any, depth: int = 0) -> str | None:
    """Why value cannot be sent as JSON to a sandboxed solution, or None if it can."""
    if depth > 50:
        return "it is nested more than 50 levels deep"
    if value is None or type(value) in (bool, int, float, str):
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            if (problem := plain_data_problem(item, depth + 1)) is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"a dict has the key {key!r}, and only str keys are plain data"
            if (problem := plain_data_problem(item, depth + 1)) is not None:
                return problem
        return None
    hint = " (convert it with .tolist())" if callable(getattr(value, "tolist", None)) else ""
    return f"it contains a {type(value).__module__}.{type(value).__name__}{hint}"


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


def check_search_dirs(search_dirs: list[Path]) -> None:
    """A --tasks-dir that is not a folder is a mistake worth one sentence, not a silent no-op."""
    for directory in search_dirs:
        if not directory.is_dir():
            what = "does not exist" if not directory.exists() else "is not a folder"
            raise TaskError(f"tasks folder {directory} {what}.")


def load_task(name: str, search_dirs: list[Path]) -> Task:
    check_search_dirs(search_dirs)
    folders = discover_tasks(search_dirs)
    if name not in folders:
        known = ", ".join(sorted(folders)) or "none"
        raise TaskError(f"unknown task {name!r}; known tasks: {known}.")
    return load_task_folder(folders[name])


def is_bundled(task: Task) -> bool:
    try:
        return task.folder.resolve().parent == bundled_tasks_dir().resolve()
    except OSError:
        return False


# --- task.toml ------------------------------------------------------------------------------


def read_task_toml(folder: Path) -> dict[str, Any]:
    path = folder / "task.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"task {folder.name}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"task {folder.name}: {path} is not valid TOML: {exc}.") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metadata_problems(meta: dict[str, Any], folder_name: str) -> tuple[list[str], list[str]]:
    """(problems, warnings) with task.toml's fields, each a phrase naming the field."""
    problems: list[str] = []
    warnings: list[str] = []
    name = meta.get("name", folder_name)
    if not isinstance(name, str) or not TASK_NAME.fullmatch(name):
        problems.append(f"'name' must be an identifier-like string (letters, digits, _), not {name!r}")
    elif name != folder_name:
        problems.append(f"'name' is {name!r} but the folder is {folder_name!r}; tasks are found by folder name, "
                        "so the two must match")
    for key in ("title", "summary"):
        if key in meta and not isinstance(meta[key], str):
            problems.append(f"'{key}' must be a string, not {_describe(meta[key])}")
    entry = meta.get("entry", "algorithm")
    if not isinstance(entry, str) or not entry.isidentifier():
        problems.append(f"'entry' must be the name of a Python function, not {entry!r}")
    if "signature" not in meta:
        problems.append("'signature' is missing (for example \"algorithm(x, y) -> answer\")")
    elif not isinstance(meta["signature"], str):
        problems.append(f"'signature' must be a string, not {_describe(meta['signature'])}")
    arg_types = meta.get("arg_types", [])
    if not isinstance(arg_types, list) or not all(t in ARG_TYPES for t in arg_types):
        problems.append(f"'arg_types' must be a list of {' or '.join(repr(t) for t in ARG_TYPES)}, not {arg_types!r}")
    if "time_limit_s" not in meta:
        problems.append("'time_limit_s' is missing (seconds per instance)")
    elif not _is_number(meta["time_limit_s"]) or meta["time_limit_s"] <= 0:
        problems.append(f"'time_limit_s' must be a positive number of seconds, not {meta['time_limit_s']!r}")
    utility_range = meta.get("utility_range", [0.0, 1.0])
    if (not isinstance(utility_range, list) or len(utility_range) != 2
            or not all(_is_number(v) for v in utility_range) or not utility_range[0] < utility_range[1]):
        problems.append(f"'utility_range' must be two numbers [low, high] with low < high, not {utility_range!r}")
    splits = meta.get("splits")
    if not isinstance(splits, dict):
        problems.append("[splits.val] and [splits.test] are missing (each with seed and count)")
    else:
        for split in ("val", "test"):
            if split not in splits:
                problems.append(f"[splits.{split}] is missing (with seed and count)")
        for split, spec in splits.items():
            if not isinstance(spec, dict):
                problems.append(f"'splits.{split}' must be a table with seed and count")
                continue
            seed, count = spec.get("seed"), spec.get("count")
            if not isinstance(seed, int) or isinstance(seed, bool):
                problems.append(f"'splits.{split}.seed' must be an integer, not {seed!r}")
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                problems.append(f"'splits.{split}.count' must be a positive integer, not {count!r}")
    for key in meta:
        if key not in KNOWN_FIELDS:
            warnings.append(f"unknown field {key!r} is ignored (known: {', '.join(KNOWN_FIELDS)})")
    return problems, warnings


def load_task_folder(folder: Path) -> Task:
    if not folder.is_dir():
        raise TaskError(f"task folder {folder} does not exist.")
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise TaskError(f"task {folder.name}: folder {folder} is missing {', '.join(missing)}.")
    meta = read_task_toml(folder)
    problems, _ = metadata_problems(meta, folder.name)
    if problems:
        raise TaskError(f"task {folder.name}: {folder / 'task.toml'}: {problems[0]}.")
    low, high = meta.get("utility_range", [0.0, 1.0])
    task = Task(
        name=meta.get("name", folder.name),
        title=meta.get("title", folder.name),
        summary=meta.get("summary", ""),
        entry=meta.get("entry", "algorithm"),
        signature=meta["signature"],
        arg_types=list(meta.get("arg_types", [])),
        time_limit_s=float(meta["time_limit_s"]),
        utility_range=(float(low), float(high)),
        splits={name: Split(seed=s["seed"], count=s["count"]) for name, s in meta["splits"].items()},
        folder=folder,
        description=_read_python(folder, "description.py"),
        seed_source=_read_python(folder, "seed.py"),
        scorer=_import_scorer(folder),
    )
    if not defines_name(task.seed_source, task.entry):
        raise TaskError(f"task {task.name}: {folder / 'seed.py'} defines no {task.entry}() function "
                        "(the entry named in task.toml).")
    for function in ("generate", "score"):
        if not callable(getattr(task.scorer, function, None)):
            raise TaskError(f"task {task.name}: {folder / 'scorer.py'} defines no {function}() function.")
    return task


def _read_python(folder: Path, filename: str) -> str:
    """A task's Python file, checked to parse; never run here."""
    path = folder / filename
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"task {folder.name}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}.") from None
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise TaskError(f"task {folder.name}: {path} has a syntax error{f' at line {line}' if line else ''}: "
                        f"{getattr(exc, 'msg', exc)}.") from None
    return source


def defines_name(source: str, name: str) -> bool:
    """Whether the module's top level defines (or assigns, or imports) `name`."""
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names):
                return True
    return False


def _import_scorer(folder: Path) -> ModuleType:
    path = folder / "scorer.py"
    _read_python(folder, "scorer.py")
    spec = importlib.util.spec_from_file_location(f"stop_tui_task_scorer_{folder.name}", path)
    if spec is None or spec.loader is None:
        raise TaskError(f"task {folder.name}: {path} cannot be imported.")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        raise TaskError(f"task {folder.name}: {path} failed to import: {type(exc).__name__}: {_short(exc)}.") from None
    return module


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}" if value is not None else "None"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else "")[:300]


# --- checking a folder (`stop-tui tasks check`) -----------------------------------------------

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


@dataclass
class CheckItem:
    label: str
    status: str  # OK | WARN | FAIL | SKIP
    detail: str = ""
    file: str | None = None  # the file the detail is about, when the detail does not name it itself


@dataclass
class TaskCheck:
    folder: Path
    items: list[CheckItem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def failures(self) -> list[CheckItem]:
        return [item for item in self.items if item.status == FAIL]

    @property
    def ok(self) -> bool:
        return not self.failures

    def add(self, label: str, status: str, detail: str = "", file: str | None = None) -> bool:
        self.items.append(CheckItem(label, status, detail, file))
        return status != FAIL


def _canonical(value: Any) -> str:
    """A comparable text form of generated data (NumPy values through tolist)."""
    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        tolist = getattr(v, "tolist", None)
        return plain(tolist()) if callable(tolist) and not isinstance(v, (int, float, str)) else v
    return json.dumps(plain(value), sort_keys=True, default=repr)


async def check_task_folder(folder: Path, pool: SandboxPool, *, per_split: int = 3) -> TaskCheck:
    """Run every check on a task folder; each check is one CheckItem, later ones skipped if
    what they need failed. The seed runs in the sandbox on `per_split` instances of each split."""
    check = TaskCheck(folder)
    name = folder.name
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    check.add("files present: " + ", ".join(REQUIRED_FILES), FAIL if missing else OK,
              f"{folder} is missing {', '.join(missing)}" if missing else "")

    meta_ok = False
    if (folder / "task.toml").is_file():
        try:
            meta = read_task_toml(folder)
            problems, warnings = metadata_problems(meta, name)
        except TaskError as exc:
            check.add("task.toml fields and types", FAIL, str(exc).removeprefix(f"task {name}: "))
        else:
            for problem in problems:
                check.add("task.toml fields and types", FAIL, problem, "task.toml")
            for warning in warnings:
                check.add("task.toml fields and types", WARN, warning, "task.toml")
            meta_ok = not problems
            if meta_ok and not warnings:
                check.add("task.toml fields and types", OK)
    for filename in ("description.py", "seed.py", "scorer.py"):
        if (folder / filename).is_file():
            try:
                _read_python(folder, filename)
                check.add(f"{filename} parses", OK)
            except TaskError as exc:
                check.add(f"{filename} parses", FAIL, str(exc).removeprefix(f"task {name}: "))
    if not check.ok or not meta_ok:
        check.add("loading, scorer and seed checks", SKIP, "fix the problems above first")
        return check

    try:
        task = load_task_folder(folder)
    except TaskError as exc:
        check.add("task loads (seed defines the entry, scorer imports and has generate/score)", FAIL,
                  str(exc).removeprefix(f"task {name}: "))
        return check
    check.add(f"seed.py defines {task.entry}(); scorer.py imports and defines generate() and score()", OK)
    if not task.description.strip():
        check.add("description.py is not empty", WARN, "the language model is shown description.py as the task's utility")

    # generate(): deterministic per seed, a pair, plain-data args.
    instances: dict[str, list[Instance]] = {}
    for split, spec in task.splits.items():
        seeds = [spec.seed + i for i in range(min(per_split, spec.count))]
        try:
            first = [task.make_instance(seed) for seed in seeds]
            second = [task.make_instance(seed) for seed in seeds]
        except TaskError as exc:
            check.add(f"generate() on {split} seeds", FAIL, str(exc).removeprefix(f"task {name}: "))
            continue
        changed = [a.seed for a, b in zip(first, second)
                   if _canonical((a.args, a.answer)) != _canonical((b.args, b.answer))]
        if changed:
            check.add(f"generate() is deterministic on {split} seeds", FAIL,
                      f"generate({changed[0]}) returned different instances when called twice; draw everything "
                      "from a generator seeded with its seed argument (random.Random(seed), "
                      "numpy.random.default_rng(seed))", "scorer.py")
            continue
        check.add(f"generate() is deterministic and returns plain-data args ({split}: seeds {seeds[0]}..{seeds[-1]})", OK)
        instances[split] = first
    if not instances or not check.ok:
        check.add("seed runs in the sandbox; score() returns numbers", SKIP, "fix generate() first")
        return check

    # The seed in the sandbox, then score() on its outputs and on a malformed output.
    scores: list[float] = []
    for split, items in instances.items():
        run = await pool.run_solution(task.seed_source, task.entry, [i.args for i in items],
                                      seeds=[i.seed for i in items], per_call_s=task.time_limit_s,
                                      arg_types=task.arg_types, stop_after_timeout=True)
        failed = [(i, r) for i, r in zip(items, run.results) if not r.ok]
        if failed:
            instance, result = failed[0]
            check.add(f"seed runs in the sandbox on {len(items)} {split} instances", FAIL,
                      f"{len(failed)} of {len(items)} failed; seed {instance.seed}: {result.error}", "seed.py")
            continue
        check.add(f"seed runs in the sandbox on {len(items)} {split} instances", OK,
                  f"slowest {max(r.elapsed_s for r in run.results):.3f} s of {task.time_limit_s:g} s")
        low, high = task.utility_range
        for instance, result in zip(items, run.results):
            try:
                raw = task.scorer.score(instance.args, instance.answer, result.value, result.elapsed_s)
            except (Exception, SystemExit) as exc:
                check.add(f"score() on the seed's {split} outputs", FAIL,
                          f"score() raised {type(exc).__name__}: {_short(exc)} (instance seed {instance.seed})", "scorer.py")
                break
            value = score_number(raw)
            if value is None:
                check.add(f"score() on the seed's {split} outputs", FAIL,
                          f"score() returned {_describe(raw)} for instance seed {instance.seed}; "
                          "it must return a finite int or float", "scorer.py")
                break
            if not low <= value <= high:
                check.add(f"score() on the seed's {split} outputs", FAIL,
                          f"score() returned {value:g} for instance seed {instance.seed}, outside utility_range "
                          f"[{low:g}, {high:g}] declared in task.toml", "scorer.py")
                break
            scores.append(value)
        else:
            check.add(f"score() on the seed's {split} outputs is a number within [{low:g}, {high:g}]", OK)
    if scores and check.ok:
        check.add("seed utility on the checked instances", OK, f"mean {sum(scores) / len(scores):.3f}")
    first = next(iter(instances.values()))[0]
    for malformed in (None, "?"):
        try:
            raw = task.scorer.score(first.args, first.answer, malformed, 0.0)
        except (Exception, SystemExit) as exc:
            check.add(f"score() rejects a malformed output ({malformed!r})", WARN,
                      f"it raised {type(exc).__name__}: {_short(exc)}; validate the output and return the lowest "
                      "score instead (see stop_tui.scoring), or every bad output is reported as a scorer error",
                      "scorer.py")
            break
        if score_number(raw) is None:
            check.add(f"score() rejects a malformed output ({malformed!r})", FAIL,
                      f"it returned {_describe(raw)}; it must return a number", "scorer.py")
            break
    else:
        check.add("score() handles malformed outputs (None, a string) without raising", OK)
    return check
