"""leakcheck's Python client: marks, sessions and checkpoints for the leakcheck runner.

``leakcheck run -- python3 prog.py`` gives the program a pipe in ``LEAKCHECK_FD``;
``Probe.from_env()`` writes to it, and is an inert no-op outside leakcheck.
Standard library only.
"""

from ._probe import ATTRIBUTE_ENV, ATTRIBUTE_FROM_ENV, FD_ENV, TRACEMALLOC_ENV, Probe, probe

__version__ = "0.1.0"

__all__ = ["ATTRIBUTE_ENV", "ATTRIBUTE_FROM_ENV", "FD_ENV", "TRACEMALLOC_ENV", "Probe", "probe", "__version__"]
