"""Taking the program out of a language model's answer.

One implementation, used by improvers inside the sandbox (`from helpers import extract_code`)
and by the engine (the candidate stream, the extraction record of every sample). Models answer
with prose around one or more fenced blocks, and an improver's own source carries fences
*inside* it — the prompts it builds quote programs in ```python blocks, at the start of a line,
inside an f-string — so a block cannot end at the first fence it meets.

The rules, in order (docs/extraction.md says the same with examples):

1. Line endings are normalised (CRLF and CR become LF). An empty answer, one with NUL bytes or
   mostly control characters ("not text"), or one over MAX_ANSWER_CHARS is a failure with a
   reason, never an exception.
2. A fence line is, after optional indentation (spaces or tabs), three or more backticks or
   tildes, then either nothing (a *bare* fence) or an info string (a *tagged* fence, e.g.
   ```python, ```py, ```Python3, ~~~python). Only whole lines count: ``` inside a string in the
   middle of a line is code.
3. Outside a block, any fence line opens a block. Inside a block, fences of the block's own
   character nest, as the reference does line by line: a tagged fence opens a level, a bare
   fence at least as long as the innermost open one closes a level, and the block ends when its
   outermost level closes. Fences of the other character are plain content.
4. Content lines lose the opening fence's indentation (where they have it); leading and
   trailing blank lines are dropped; the program ends with one newline.
5. A block still open at the end of the answer (cut off by the token limit) is a candidate too.
   If nesting left a block open, or it does not compile, the block is also read the plain
   Markdown way (it ends at the first bare fence): a model may have written an unbalanced fence.
   If still no Python block compiles, each Python-tagged opener is tried against every later
   bare fence, farthest first, and the first stretch that compiles is a candidate.
6. A block is Python if its tag is python, py, python3, py3 or sage (any case) or it has no tag.
   Among Python blocks that compile, the largest wins; failing that, the largest compiling block
   of any tag; failing that, the largest Python block that does not compile (returned so the
   utility records its SyntaxError, with status "does not compile").
7. No block at all: the whole answer, if it compiles and defines a function or a class (so a
   one-word reply is not taken for a program); else the failure "no code in the answer".
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

MAX_ANSWER_CHARS = 512 * 1024  # far past any max_tokens setting; more is not an answer but a flood
MAX_FENCES = 64  # fence lines considered by the last-resort reading (it compiles pairs of them)
PYTHON_TAGS = frozenset({"", "python", "py", "python3", "py3", "sage"})

# Statuses of an extraction.
FENCED = "fenced"  # a closed fenced block
UNTERMINATED = "unterminated"  # a block cut off by the end of the answer
WHOLE_ANSWER = "whole-answer"  # no fences; the answer itself is a program
NOT_COMPILING = "does-not-compile"  # the best block found does not compile; returned anyway
FAILED = "failed"  # no program at all; `failure` says why

NO_CODE = "no code in the answer"
EMPTY = "empty answer"
NOT_TEXT = "the answer is not text (binary data)"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Extraction:
    """What was taken from one answer: a program, or why there is none."""

    code: str | None
    status: str  # FENCED, UNTERMINATED, WHOLE_ANSWER, NOT_COMPILING or FAILED
    failure: str | None = None  # for FAILED: why there is no program; for NOT_COMPILING: the error

    @property
    def ok(self) -> bool:
        return self.code is not None and self.status != NOT_COMPILING


@dataclass(frozen=True)
class _Block:
    lines: list[str]
    tag: str
    closed: bool

    @property
    def code(self) -> str:
        lines = list(self.lines)
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(lines) + "\n" if lines else ""

    @property
    def is_python(self) -> bool:
        return self.tag in PYTHON_TAGS


def extract_code(responses):
    """The program in each answer: a str gives a str, a list gives a list.

    An answer without a usable program gives "" (scoring "" is a recorded failure, and
    `max(candidates, key=utility)` still works on a list that holds one).
    """
    if isinstance(responses, str):
        return _code_or_empty(responses)
    return [_code_or_empty(response) for response in responses]


def _code_or_empty(answer) -> str:
    return extract_program(answer).code or ""


def extract_program(answer) -> Extraction:
    """The program in one answer, with how it was found or why there is none (rules above)."""
    if not isinstance(answer, str):
        return Extraction(None, FAILED, f"the answer is a {type(answer).__name__}, not text")
    if len(answer) > MAX_ANSWER_CHARS:
        return Extraction(None, FAILED, f"the answer is too long to read ({len(answer):,} characters, "
                                        f"limit {MAX_ANSWER_CHARS:,})")
    text = answer.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return Extraction(None, FAILED, EMPTY)
    if _is_binary(text):
        return Extraction(None, FAILED, NOT_TEXT)
    lines = text.split("\n")
    blocks = _blocks(lines, nested=True)
    if any(not b.closed or _compile_error(b.code) for b in blocks):
        # Rule 5: an unbalanced fence may have swallowed the rest; read it the plain way too.
        blocks += [b for b in _blocks(lines, nested=False) if b not in blocks]
    if not any(b.is_python and _compile_error(b.code) is None for b in blocks):
        blocks += [b for b in _stretched_blocks(lines) if b not in blocks]
    blocks = [b for b in blocks if b.code.strip()]
    if not blocks:
        return _whole_answer(text)
    compiling = [b for b in blocks if _compile_error(b.code) is None]
    python = [b for b in compiling if b.is_python] or compiling
    if python:
        best = max(python, key=lambda b: (len(b.code), b.closed))
        return Extraction(best.code, FENCED if best.closed else UNTERMINATED)
    broken = max([b for b in blocks if b.is_python] or blocks, key=lambda b: len(b.code))
    return Extraction(broken.code, NOT_COMPILING, _compile_error(broken.code))


def _blocks(lines: list[str], *, nested: bool) -> list[_Block]:
    """Every top-level fenced block; with nested=False a block ends at its first bare fence."""
    blocks: list[_Block] = []
    index = 0
    while index < len(lines):
        opener = _FENCE.match(lines[index])
        index += 1
        if opener is None:
            continue
        indent, char = opener["indent"], opener["fence"][0]
        tag = _tag(opener["info"])
        stack = [len(opener["fence"])]
        content: list[str] = []
        while index < len(lines):
            line = lines[index]
            index += 1
            fence = _FENCE.match(line)
            if fence is not None and fence["fence"][0] == char:
                length, info = len(fence["fence"]), fence["info"].strip()
                if not info and length >= stack[-1]:
                    stack.pop()
                    if not stack or not nested:
                        stack.clear()
                        break
                elif info and nested:
                    stack.append(length)
            content.append(line[len(indent):] if indent and line.startswith(indent) else line)
        blocks.append(_Block(content, tag, closed=not stack))
    return blocks


def _stretched_blocks(lines: list[str]) -> list[_Block]:
    """Last resort for a Python block that neither reading closes well (say a bare fence inside
    the code closed it early): from each Python-tagged opener to each later bare fence of its
    character, farthest first, the first stretch that compiles."""
    fences = [(i, m) for i, line in enumerate(lines) if (m := _FENCE.match(line)) is not None][:MAX_FENCES]
    found = []
    for position, (start, opener) in enumerate(fences):
        tag = _tag(opener["info"])
        if not opener["info"].strip() or tag not in PYTHON_TAGS:
            continue
        indent, char = opener["indent"], opener["fence"][0]
        ends = [i for i, m in fences[position + 1:] if m["fence"][0] == char and not m["info"].strip()]
        for end in reversed(ends):
            content = [line[len(indent):] if indent and line.startswith(indent) else line
                       for line in lines[start + 1:end]]
            block = _Block(content, tag, closed=True)
            if _compile_error(block.code) is None:
                found.append(block)
                break
    return found


def _tag(info: str) -> str:
    """The language of a fence's info string: its first word, lower-cased ('{.python}' too)."""
    words = info.strip().strip("{}").split()
    return words[0].lstrip(".").lower() if words else ""


def _whole_answer(text: str) -> Extraction:
    code = _Block(text.split("\n"), "", True).code
    if _compile_error(code) is None and _defines_something(code):
        return Extraction(code, WHOLE_ANSWER)
    return Extraction(None, FAILED, NO_CODE)


def _defines_something(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for node in tree.body)


def _compile_error(code: str) -> str | None:
    """None if the code compiles, else the error in one line. Compiling runs nothing."""
    try:
        compile(code, "<answer>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"SyntaxError at line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _is_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    sample = text[:4096]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\t\f\v" or ch == "\ufffd")
    return controls > len(sample) * 0.1
