from __future__ import annotations

import asyncio

from stop_tui.engine.lm.base import LMRequest
from stop_tui.engine.lm.scripted import ScriptedBackend, ScriptedLibrary
from stop_tui.engine.sandbox.helpers import extract_code


def request(messages, context="c"):
    return LMRequest(request_id="r1", purpose="improve-solution", expertise="e", messages=messages,
                     temperature=0.7, max_tokens=1024, context=context, generation=1)


def test_library_has_every_kind_and_level():
    library = ScriptedLibrary.load()
    for kind in ("improver", "lpn"):
        levels = {entry.level for entry in library.by_kind[kind]}
        assert {-1, 0, 1, 2} <= levels, (kind, levels)
    for entry in library.by_tag.values():
        assert f"# scripted: {entry.kind}/{entry.slug}" in extract_code(entry.text), entry.slug


def test_prompts_are_classified_by_tag_or_marker():
    library = ScriptedLibrary.load()
    assert library.classify("def algorithm(train_samples, train_parity, test_samples): ...") == ("lpn", 0)
    assert library.classify("def improve_algorithm(initial_solution, utility, language_model):") == ("improver", 0)
    best = max(library.by_kind["lpn"], key=lambda e: e.level)
    assert library.classify(extract_code(best.text)) == ("lpn", best.level)


def test_answers_depend_on_content_not_arrival_order():
    messages = ["improve def algorithm(train_samples, x, y)"] * 6
    first = asyncio.run(ScriptedBackend(seed=1).complete(request(messages), lambda i, t: None)).responses
    second = asyncio.run(ScriptedBackend(seed=1).complete(request(messages), lambda i, t: None)).responses
    assert first == second
    other_seed = asyncio.run(ScriptedBackend(seed=2).complete(request(messages), lambda i, t: None)).responses
    assert other_seed != first


def test_chunks_stream_the_whole_response():
    chunks: dict[int, str] = {}
    result = asyncio.run(ScriptedBackend().complete(
        request(["def improve_algorithm(initial_solution, utility, language_model):"] * 2),
        lambda i, text: chunks.__setitem__(i, chunks.get(i, "") + text)))
    assert [chunks[0], chunks[1]] == result.responses


def test_extract_code_takes_the_largest_python_block():
    text = "idea\n```python\nx = 1\n```\nmore\n```python\ndef f():\n    return 2\n```\n"
    assert extract_code(text) == "def f():\n    return 2\n"
    # Prose with no program gives "" (scored as a recorded failure), never the prose itself.
    assert extract_code([text, "no fence"]) == ["def f():\n    return 2\n", ""]
