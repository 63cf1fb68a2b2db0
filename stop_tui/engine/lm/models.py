"""Turning a --model string into a backend.

- `scripted`: hand-written answers from a bundled library (tests and the demo);
- `local`: the embedded SmolLM2-135M model, served by llama.cpp (the `[local]` extra);
- `replay:SESSION`: the answers recorded in a session log, offline;
- anything else: a litellm model string (`openai/gpt-4o-mini`, `anthropic/...`), or any model
  of an OpenAI-compatible server named with `--api-base`.

Everything a user can get wrong is checked here, before a session is created, and reported as
a ModelError of one sentence.
"""

from __future__ import annotations

from ..config import RunConfig
from .base import LMBackend, ModelError

__all__ = ["ModelError", "make_backend", "SCRIPTED", "LOCAL", "REPLAY"]

SCRIPTED = "scripted"
LOCAL = "local"
REPLAY = "replay:"


def make_backend(model: str, *, seed: int = 0, chunk_delay_s: float = 0.0,
                 config: RunConfig | None = None) -> LMBackend:
    """The backend for `model`; `config` carries the endpoint, key and budget options."""
    config = config or RunConfig(model=model)
    builtin = model == SCRIPTED or model == LOCAL or model.startswith(REPLAY)
    if builtin and (config.api_base or config.api_key_env):
        raise ModelError(f"--api-base and --api-key-env apply to hosted and OpenAI-compatible models, not to --model {model}.")
    if model == SCRIPTED:
        from .scripted import ScriptedBackend

        return ScriptedBackend(seed=seed, chunk_delay_s=chunk_delay_s)
    if model.startswith(REPLAY):
        from .replay import ReplayBackend

        return ReplayBackend(model[len(REPLAY):])
    if model == LOCAL:
        from .local_model import LocalModelBackend

        return LocalModelBackend(request_timeout_s=config.request_timeout_s, max_concurrency=config.max_concurrency)
    if not model.strip():
        raise ModelError("--model is empty; name a model such as openai/gpt-4o-mini, local or scripted.")
    from .litellm_backend import LiteLLMBackend

    return LiteLLMBackend(
        model, api_base=config.api_base, api_key_env=config.api_key_env, keys_file=config.keys_file,
        client=config.lm_client, request_timeout_s=config.request_timeout_s, max_concurrency=config.max_concurrency,
        require_price=config.max_cost_usd is not None,
    )
