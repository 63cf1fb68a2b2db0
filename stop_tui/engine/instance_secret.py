"""The secret that keeps hidden instances hidden.

A task's splits are seeded (val from 4321, test from 5678 in the reference), and its generator
is no secret: a program that knows both could regenerate every instance from the training data
it is given and answer from the hidden labels. So the seed an instance is generated from, and
the seed a sandboxed program's random generators get for each call, are both keyed by a secret
that only the engine holds: HMAC(secret, seed).

The secret is the machine's own (a file in the user's config folder, made once, readable by its
owner only; the sandbox sees neither home nor config), so scores are reproducible on a machine
across runs, evals and resumes, and differ from another machine's only by which instances were
drawn. STOP_TUI_SEED_SECRET replaces it (tests, reproducing a run elsewhere).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from ..paths import config_dir

SECRET_FILE = "instance-secret"
ENVIRONMENT_VARIABLE = "STOP_TUI_SEED_SECRET"


def secret_path() -> Path:
    return config_dir() / SECRET_FILE


@functools.cache
def instance_secret() -> bytes:
    """The engine's secret: the variable's, else the machine's file's (made on first use)."""
    pinned = os.environ.get(ENVIRONMENT_VARIABLE)
    if pinned:
        return pinned.encode()
    path = secret_path()
    try:
        data = path.read_bytes()
        if len(data) >= 16:
            return data
    except OSError:
        pass
    data = secrets.token_hex(32).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    except FileExistsError:  # another process made it first: use theirs once it is written
        for _ in range(50):
            try:
                theirs = path.read_bytes()
            except OSError:
                break
            if len(theirs) >= 16:
                return theirs
            time.sleep(0.01)
        # A file too short to be a secret (damaged, or never finished): this process's own.
    except OSError:
        pass  # a read-only home: this process's own secret (scores then vary between runs)
    return data


def keyed_seed(seed: int, purpose: str, secret: bytes | None = None) -> int:
    """A 63-bit seed derived from a public one, unguessable without the secret."""
    digest = hmac.new(secret or instance_secret(), f"{purpose}:{seed}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1
