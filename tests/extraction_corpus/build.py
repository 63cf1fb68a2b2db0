"""Writes the corpus: each answer as a model sends it (NN-name.md, byte for byte), the program
extraction must give back (NN-name.expected.py), and manifest.toml (status, failure, outcome).

The expected programs are the programs in programs.py, written by hand: what a correct
extractor returns follows from the rules in stop_tui/engine/sandbox/extraction.py, never from
running it. Run `python tests/extraction_corpus/build.py` after changing a case; commit the output.

manifest.toml, one [[case]] per answer:
  name      file stem
  kind      "solution" (an lpn program), "improver" or "none" (nothing to run)
  status    the Extraction status expected: fenced, unterminated, whole-answer, does-not-compile, failed
  failure   for failed: text the failure reason must contain ("" = any); absent otherwise
  failure_any  (optional) several acceptable reasons
  outcome   "score>0.5", "score>0", "score=0", or text the run's error / failure reasons must contain
  generated (optional) the answer is made by the test (too big to keep), e.g. "flood"
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import programs as p  # noqa: E402

REPO = HERE.parents[1]
LPN_SEED = (REPO / "tasks" / "lpn" / "seed.py").read_text()
SEED_IMPROVER = (REPO / "tasks" / "improvers" / "seed.py").read_text()

CASES: list[dict] = []


def case(name, answer, expected=None, *, status, kind, outcome, failure=None, **extra):
    CASES.append(dict(name=name, answer=answer, expected=expected, status=status, kind=kind, outcome=outcome,
                      failure=failure, **extra))


def indent(code: str, prefix: str) -> str:
    return "".join(prefix + line if line.strip() else line for line in code.splitlines(keepends=True))


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def cut(code: str, marker: str) -> str:
    """The code up to (not including) the first occurrence of marker: where the token limit fell."""
    return code[:code.index(marker)]


GOOD = "score>0.5"

# --- fence forms, with lpn solutions ---------------------------------------------------------------

case("01-python-fence-prose-around",
     "The seed guesses at random. Since the labels are parities, the hidden subset can be recovered by\n"
     "Gaussian elimination over GF(2); to cope with the 5% label noise I solve many small random\n"
     "subsystems and keep the solution that agrees with the most training labels.\n\n"
     f"```python\n{p.GAUSS_GF2}```\n\n"
     "This runs in a few milliseconds per problem and should score close to 1.0.\n",
     p.GAUSS_GF2, status="fenced", kind="solution", outcome=GOOD)
case("02-py-fence", f"Brute force is cheap with 10 bits:\n\n```py\n{p.BRUTE_FORCE}```\n",
     p.BRUTE_FORCE, status="fenced", kind="solution", outcome=GOOD)
case("03-python3-fence", f"A simple baseline first.\n```python3\n{p.MAJORITY}```",
     p.MAJORITY, status="fenced", kind="solution", outcome="score>0")
case("04-Python-capitalised", f"Here you go:\n\n```Python\n{p.GAUSS_GF2}```\n",
     p.GAUSS_GF2, status="fenced", kind="solution", outcome=GOOD)
case("05-bare-fence", f"Improved solution:\n```\n{p.BRUTE_FORCE}```\nLet me know if you want comments.\n",
     p.BRUTE_FORCE, status="fenced", kind="solution", outcome=GOOD)
case("06-tilde-fence", f"~~~python\n{p.GAUSS_GF2}~~~\n",
     p.GAUSS_GF2, status="fenced", kind="solution", outcome=GOOD)
case("07-indented-fence-in-numbered-list",
     "Steps:\n\n1. Recover the hidden subset by trying all 1024 candidates.\n"
     "2. Replace `algorithm` with:\n\n"
     f"   ```python\n{indent(p.BRUTE_FORCE, '   ')}   ```\n\n"
     "3. Run the utility again; the accuracy should be near 1.0.\n",
     p.BRUTE_FORCE, status="fenced", kind="solution", outcome=GOOD)
case("08-info-string-with-extra-words",
     f"```python title=\"lpn_solution.py\" linenums=\"1\"\n{p.GAUSS_GF2}```\n",
     p.GAUSS_GF2, status="fenced", kind="solution", outcome=GOOD)
case("09-space-before-the-tag", f"``` python\n{p.MAJORITY}```\n",
     p.MAJORITY, status="fenced", kind="solution", outcome="score>0")
case("10-crlf", crlf(f"Here is the improved algorithm.\n\n```python\n{p.GAUSS_GF2}```\n\nIt handles noise.\n"),
     p.GAUSS_GF2, status="fenced", kind="solution", outcome=GOOD)
case("11-tab-indented-code", f"```python\n{p.BRUTE_FORCE_TABS}```\n",
     p.BRUTE_FORCE_TABS, status="fenced", kind="solution", outcome=GOOD)
case("12-old-version-then-new-version",
     f"The current version:\n\n```python\n{LPN_SEED}```\n\nguesses at random. The new version:\n\n"
     f"```python\n{p.GAUSS_GF2}```\n",
     p.GAUSS_GF2, status="fenced", kind="solution", outcome=GOOD)
case("13-pip-install-then-code-then-output",
     "You need NumPy:\n\n```bash\npip install numpy\n```\n\nThen:\n\n"
     f"```python\n{p.BRUTE_FORCE}```\n\nExample output:\n\n```text\nutility: 0.998\n```\n",
     p.BRUTE_FORCE, status="fenced", kind="solution", outcome=GOOD)
case("14-code-then-bare-output-block",
     f"```python\n{p.GAUSS_GF2}```\n\nWhen I ran it:\n\n```\nAccuracy: 0.97\n```\n",
     p.GAUSS_GF2, status="fenced", kind="solution", outcome=GOOD)
case("15-cut-off-block-that-compiles",
     f"I'll use Gaussian elimination over GF(2) with random restarts.\n\n```python\n{p.GAUSS_GF2}",
     p.GAUSS_GF2, status="unterminated", kind="solution", outcome=GOOD)
_CUT = cut(p.GAUSS_GF2, "if errors < best_errors") + "if errors < best_er"
case("16-cut-off-block-that-does-not-compile",
     f"I'll use Gaussian elimination over GF(2) with random restarts.\n\n```python\n{_CUT}",
     _CUT.rstrip("\n") + "\n", status="does-not-compile", kind="solution", outcome="SyntaxError")
case("17-no-fence-whole-answer-is-a-program", p.BRUTE_FORCE,
     p.BRUTE_FORCE, status="whole-answer", kind="solution", outcome=GOOD)
case("18-only-prose",
     "The current solution is already reasonable for noisy parities. A better approach would be\n"
     "Gaussian elimination over GF(2) combined with a robust vote, but I would need more\n"
     "information about the time limit before writing it.\n",
     None, status="failed", failure="no code in the answer", kind="none", outcome="no code in the answer")
case("19-one-word", "Done\n",
     None, status="failed", failure="no code in the answer", kind="none", outcome="no code in the answer")
case("20-empty-answer", "",
     None, status="failed", failure="empty answer", kind="none", outcome="empty answer")
case("21-whitespace-only", "  \n\n\t\n",
     None, status="failed", failure_any=["empty answer", "no code in the answer"], kind="none", outcome="no program")
case("22-binary-garbage",
     b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00\x5c\x72\xa8"
     b"\x66\x00\x00\x00\x01sRGB\x00\xae\xce\x1c\xe9\x00\x00\x00\x04gAMA\x00\x00\xb1\x8f\x0b\xfc\x61\x05"
     b"\x00\x00\x00\x09pHYs\x00\x00\x0e\xc3\x00\x00\x0e\xc3\x01\xc7o\xa8d\x00\x00\x00\x07\x01\x02\x03\x04",
     None, status="failed", failure="not text", kind="none", outcome="not text")
case("23-flood-600k-characters", None,
     None, status="failed", failure="", kind="none", outcome="no program", generated="flood")
case("24-backticks-in-a-string-mid-line", f"```python\n{p.FENCE_IN_STRING}```\n",
     p.FENCE_IN_STRING, status="fenced", kind="solution", outcome=GOOD)
case("25-fence-mentioned-mid-line-in-prose",
     "As usual I put the program in a ```python block, and close it with ``` on its own line:\n\n"
     f"```python\n{p.GAUSS_GF2}```\n",
     p.GAUSS_GF2, status="fenced", kind="solution", outcome=GOOD)
case("26-program-split-across-two-blocks",
     f"First a helper that fits the subset:\n\n```python\n{p.SPLIT_HELPER}```\n\n"
     f"Then the algorithm itself:\n\n```python\n{p.SPLIT_MAIN}```\n",
     p.SPLIT_MAIN, status="fenced", kind="solution", outcome="NameError")
case("27-only-a-non-python-block",
     "In JavaScript it would be:\n\n```javascript\nfunction algorithm(train, parity, test) {\n"
     "  return test.map(() => 0);\n}\n```\n",
     None, status="failed", failure="no code in the answer", kind="none", outcome="no code in the answer")
case("28-python-in-a-text-block", f"```text\n{p.BRUTE_FORCE}```\n",
     p.BRUTE_FORCE, status="fenced", kind="solution", outcome=GOOD)
case("29-cr-only-line-endings", f"Baseline:\n```python\n{p.MAJORITY}```\n".replace("\n", "\r"),
     p.MAJORITY, status="fenced", kind="solution", outcome="score>0")
case("30-calls-an-undefined-helper", f"```python\n{p.UNDEFINED_HELPER}```\n",
     p.UNDEFINED_HELPER, status="fenced", kind="solution", outcome="NameError")
case("31-wrong-output-shape", f"A compact version:\n```python\n{p.BROADCAST_COLUMN}```\n",
     p.BROADCAST_COLUMN, status="fenced", kind="solution", outcome="score=0")
case("32-trailing-spaces-on-fence-lines", f"```python   \n{p.BRUTE_FORCE}```   \n\nDone.\n",
     p.BRUTE_FORCE, status="fenced", kind="solution", outcome=GOOD)
case("33-blank-lines-around-the-code", f"```python\n\n\n{p.MAJORITY}\n\n\n```\n",
     p.MAJORITY, status="fenced", kind="solution", outcome="score>0")
case("34-reasoning-with-a-draft-then-the-answer",
     "<think>\nThe seed is random. Maybe just predict zeros:\n```python\ndef algorithm(a, b, c):\n"
     "    return [0] * len(c)\n```\nNo, better to recover the subset by elimination over GF(2).\n</think>\n\n"
     f"```python\n{p.GAUSS_GF2}```\n",
     p.GAUSS_GF2, status="fenced", kind="solution", outcome=GOOD)
case("35-tilde-fence-around-backtick-lines",
     f"~~~\n{p.FENCE_IN_STRING}~~~\n",
     p.FENCE_IN_STRING, status="fenced", kind="solution", outcome=GOOD)

case("36-non-ascii-prose-and-comments",
     "Voici une solution : l'élimination de Gauss sur GF(2) — précision ≈ 100 %.\n\n"
     f"```python\n# 解法: 全部の部分集合を試す\n{p.BRUTE_FORCE}```\n\n✓ Testé.\n",
     f"# 解法: 全部の部分集合を試す\n{p.BRUTE_FORCE}", status="fenced", kind="solution", outcome=GOOD)
case("37-closing-fence-indented-and-longer",
     f"```python\n{p.MAJORITY}  `````\n\nThat is all.\n",
     p.MAJORITY, status="fenced", kind="solution", outcome="score>0")
case("38-tab-indented-fence-in-a-list",
     f"- Replace the function with:\n\n\t```python\n{indent(p.BRUTE_FORCE, chr(9))}\t```\n- Then rerun.\n",
     p.BRUTE_FORCE, status="fenced", kind="solution", outcome=GOOD)
case("39-stray-fence-after-the-block",
     f"```python\n{p.GAUSS_GF2}```\n```\n",
     p.GAUSS_GF2, status="fenced", kind="solution", outcome=GOOD)

# --- improvers ---------------------------------------------------------------------------------------

IMP = "score>0"

case("40-improver-beam-search",
     "I'll turn the single round of sampling into a beam search: keep the two best programs and ask\n"
     "for an improvement of each, for two rounds.\n\n"
     f"```python\n{p.BEAM_SEARCH}```\n\n"
     "The beam keeps the budget small while exploring more than one direction.\n",
     p.BEAM_SEARCH, status="fenced", kind="improver", outcome=IMP)
case("41-improver-genetic-algorithm-quote-closed-fences",
     f"A genetic algorithm over programs:\n\n```python\n{p.GENETIC}```\n",
     p.GENETIC, status="fenced", kind="improver", outcome=IMP)
case("42-improver-simulated-annealing-tilde-fence",
     f"Simulated annealing:\n\n~~~python\n{p.ANNEALING}~~~\n",
     p.ANNEALING, status="fenced", kind="improver", outcome=IMP)
case("43-improver-decompose-crlf",
     crlf(f"Improving one part at a time:\n\n```python\n{p.DECOMPOSE}```\n"),
     p.DECOMPOSE, status="fenced", kind="improver", outcome=IMP)
case("44-improver-ucb-bandit-four-backticks",
     f"````python\n{p.BANDIT}````\n\nThe bandit learns which prompt style pays off.\n",
     p.BANDIT, status="fenced", kind="improver", outcome=IMP)
case("45-improver-temperature-sweep-py", f"```py\n{p.TEMPERATURE_SWEEP}```\n",
     p.TEMPERATURE_SWEEP, status="fenced", kind="improver", outcome=IMP)
case("46-improver-self-consistency-in-a-list",
     "Plan:\n\n1. Sample four answers.\n2. Vote, then check the winners with the utility:\n\n"
     f"   ```python\n{indent(p.SELF_CONSISTENCY, '   ')}   ```\n",
     p.SELF_CONSISTENCY, status="fenced", kind="improver", outcome=IMP)
case("47-improver-thread-pool-bare-outer-fence", f"```\n{p.THREADED_UTILITY}```\n",
     p.THREADED_UTILITY, status="fenced", kind="improver", outcome=IMP)
case("48-improver-language-model-prompt", f"Here it is.\n```Python\n{p.SINGLE_PROMPT}```\n",
     p.SINGLE_PROMPT, status="fenced", kind="improver", outcome=IMP)
case("49-improver-distinct-messages-python3", f"```python3\n{p.DISTINCT_MESSAGES}```\n",
     p.DISTINCT_MESSAGES, status="fenced", kind="improver", outcome=IMP)
case("50-improver-old-then-new-budget-aware",
     f"Your current improver:\n\n```python\n{SEED_IMPROVER}```\n\n"
     "uses one call. This one spends the whole budget:\n\n"
     f"```python title=\"improver.py\"\n{p.BUDGET_AWARE}```\n",
     p.BUDGET_AWARE, status="fenced", kind="improver", outcome=IMP)
case("51-improver-returns-its-input", f"```python\n{p.RETURNS_INPUT}```\n",
     p.RETURNS_INPUT, status="fenced", kind="improver", outcome=IMP)
case("52-improver-returns-a-list", f"```python\n{p.RETURNS_LIST}```\n",
     p.RETURNS_LIST, status="fenced", kind="improver", outcome="returned list")
case("53-improver-returns-none", f"```python\n{p.RETURNS_NONE}```\n",
     p.RETURNS_NONE, status="fenced", kind="improver", outcome="returned NoneType")
case("54-improver-raises", f"```python\n{p.RAISES}```\n",
     p.RAISES, status="fenced", kind="improver", outcome="ValueError")
case("55-improver-recursive", f"A recursive improver:\n```python\n{p.RECURSIVE}```\n",
     p.RECURSIVE, status="fenced", kind="improver", outcome=IMP)
case("56-improver-own-parser-backticks-mid-line", f"```python\n{p.OWN_PARSER}```\n",
     p.OWN_PARSER, status="fenced", kind="improver", outcome=IMP)
case("57-improver-bare-fences-in-its-prompt",
     f"Here is the improver:\n```python\n{p.BARE_INNER_FENCES}```\nIt is the seed with more samples.\n",
     p.BARE_INNER_FENCES, status="fenced", kind="improver", outcome=IMP)
case("58-improver-bare-fences-back-to-back", f"```python\n{p.BARE_BACK_TO_BACK}```\n",
     p.BARE_BACK_TO_BACK, status="fenced", kind="improver", outcome=IMP)
case("59-improver-prompt-ends-with-an-open-fence", f"```python\n{p.OPEN_ENDED_PROMPT}```\n",
     p.OPEN_ENDED_PROMPT, status="fenced", kind="improver", outcome=IMP)
case("60-improver-quote-closed-fences-only", f"Two prompts, one call:\n\n```python\n{p.QUOTE_CLOSED_FENCES}```\n",
     p.QUOTE_CLOSED_FENCES, status="fenced", kind="improver", outcome=IMP)
case("61-improver-cut-off-after-the-last-line",
     f"Beam search over programs:\n\n```python\n{p.BEAM_SEARCH}",
     p.BEAM_SEARCH, status="unterminated", kind="improver", outcome=IMP)
_CUT_IMPROVER = cut(p.BEAM_SEARCH, "You will be evaluated")
case("62-improver-cut-off-inside-its-prompt",
     f"Beam search over programs:\n\n```python\n{_CUT_IMPROVER}",
     _CUT_IMPROVER.rstrip("\n") + "\n", status="does-not-compile", kind="improver", outcome="SyntaxError")
case("63-improver-then-usage-and-output-blocks",
     f"```python\n{p.TEMPERATURE_SWEEP}```\n\nTo try it:\n\n```bash\npython -m stop_tui eval --task lpn\n```\n\n"
     "```\n0.93\n```\n",
     p.TEMPERATURE_SWEEP, status="fenced", kind="improver", outcome=IMP)
case("64-improver-as-the-whole-answer-no-outer-fence", p.BEAM_SEARCH,
     p.BEAM_SEARCH, status="whole-answer", kind="improver", outcome=IMP)
case("65-improver-four-backticks-bare-inner-fences",
     f"````python\n{p.BARE_INNER_FENCES}````\n",
     p.BARE_INNER_FENCES, status="fenced", kind="improver", outcome=IMP)

case("66-improver-bare-fences-with-a-one-word-heading", f"```python\n{p.BARE_FENCES_WITH_HEADING}```\n",
     p.BARE_FENCES_WITH_HEADING, status="fenced", kind="improver", outcome=IMP)

def toml_value(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def main() -> None:
    for old in HERE.glob("[0-9][0-9]-*"):
        old.unlink()
    lines = ["# Written by build.py: one [[case]] per answer. See build.py for the fields.\n"]
    for c in CASES:
        answer = c["answer"]
        if answer is not None:
            data = answer if isinstance(answer, bytes) else answer.encode()
            (HERE / f"{c['name']}.md").write_bytes(data)
        if c["expected"] is not None:
            (HERE / f"{c['name']}.expected.py").write_bytes(c["expected"].encode())
        lines.append("\n[[case]]\n")
        for key in ("name", "kind", "status", "failure", "failure_any", "outcome", "generated"):
            if c.get(key) is not None:
                lines.append(f"{key} = {toml_value(c[key])}\n")
    (HERE / "manifest.toml").write_text("".join(lines))
    print(f"{len(CASES)} cases")


if __name__ == "__main__":
    main()
