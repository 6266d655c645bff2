"""Hypothesis profiles for every test directory.

``dev`` is the default; ``ci`` is loaded when the ``CI`` environment variable
is set (derandomised, no deadline, no example database, at least 100 examples
per property); ``thorough`` (many examples) is for nightly runs:
``HYPOTHESIS_PROFILE=thorough pytest``. ``fuzz`` is for HypoFuzz (docs/fuzzing.md):
no deadline, and the example database in the directory named by
``SYMCHECK_FUZZ_DB`` (default ``.hypothesis/fuzz``), which every fuzzing process
on every machine that shares that directory reads and writes.
"""

from __future__ import annotations

import os
import sys

# Two xdist workers on two cores, each with its own BLAS thread pool,
# oversubscribe the machine (measured 1.8x slower on the scale tests). One
# BLAS thread per worker, unless the caller chose otherwise. This only works
# before NumPy is first imported in the worker, hence the check below.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
_NUMPY_WAS_IMPORTED = "numpy" in sys.modules

from hypothesis import HealthCheck, settings  # noqa: E402  (after the BLAS setting)
from hypothesis.database import DirectoryBasedExampleDatabase  # noqa: E402

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.register_profile(
    "fuzz",
    deadline=None,
    database=DirectoryBasedExampleDatabase(
        os.environ.get("SYMCHECK_FUZZ_DB", os.path.join(".hypothesis", "fuzz"))
    ),
    suppress_health_check=[HealthCheck.too_slow],
)

# The project's own pytest plugin (fixtures ``symcheck``, ``symcheck_rng`` ...; docs/torch.md).
pytest_plugins = ("symcheck.pytest_plugin",)

_default = "ci" if os.environ.get("CI") else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))


def pytest_report_header(config) -> str:
    state = "after" if _NUMPY_WAS_IMPORTED else "before"
    threads = os.environ["OPENBLAS_NUM_THREADS"]
    return f"BLAS threads set {state} NumPy import: OPENBLAS_NUM_THREADS={threads}"
