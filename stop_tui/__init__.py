"""stop-tui: run and watch STOP recursive self-improvement of code."""

import os

# Hidden scorers run NumPy in the engine while sandboxed programs run beside it; BLAS thread
# pools there would fight those programs for the cores (7x the CPU for MaxCut's eigenvalues
# under load) and inflate their measured time. Set before anything imports NumPy; a user's
# own setting wins.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

__version__ = "0.1.0"
