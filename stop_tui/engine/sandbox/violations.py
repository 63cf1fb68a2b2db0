"""What a sandboxed program tried and was refused: the kernel's and the engine's own record.

A violation is reported by trusted code only (the supervisor that watched the child's system
calls, or the engine that read its frames), never by the child itself, so a program cannot
forge or hide one. The pool attaches them to a run's outcome; the engine turns each into an
event naming the candidate, so the approval panel and the report can say "this improver tried
to remount /" from what was seen rather than from keywords in its source.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Kinds of violation.
SYSCALL = "syscall"  # a refused privileged system call (mount, setns, ptrace, ...)
PROTOCOL = "protocol"  # a malformed or oversized frame, or too many refused requests
RESOURCE = "resource"  # a per-run cap hit (processes, memory, scratch disk)


@dataclass(frozen=True)
class Violation:
    kind: str  # SYSCALL, PROTOCOL or RESOURCE
    detail: str  # what was tried, in a few words: "mount", "frame of 5000000 bytes", "pids.max 64"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Violation:
        return cls(kind=str(data.get("kind", "")), detail=str(data.get("detail", ""))[:200])
