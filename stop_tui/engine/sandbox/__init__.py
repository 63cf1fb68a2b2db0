"""Run untrusted programs (improvers, solutions) in child processes, never in the engine.

Parent side: pool.SandboxPool. Child side: zygote (a preloaded fork server), supervisor and
runtime. The two sides speak length-prefixed JSON over a socket pair (protocol.py).
"""
