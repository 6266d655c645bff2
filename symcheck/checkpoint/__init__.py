"""Architecture-aware, streamed audit of real checkpoints (docs/checkpoint.md).

``audit_checkpoint(source)`` reads a weight file, a directory, a sharded
``model.safetensors.index.json`` or a list of files one tensor at a time and
reports, per unit space of the architecture (FFN neurons, heads, query-key
and value-output dims, channels, experts, residual stream), the tie classes
(certified), dead units, effective width, nearest pair and near duplicates.
``render(report, fmt)`` gives the text or JSON form. ``diff(a, b)`` compares
two checkpoints up to a permutation of units (:mod:`symcheck.checkpoint.compare`).
``scheduler=`` runs the same audit on a Dask cluster
(:mod:`symcheck.checkpoint.cluster`).
"""

import importlib
from typing import Any

from symcheck.checkpoint.audit import (
    CONNECT_TIMEOUT,
    DEFAULT_THRESHOLD,
    audit_checkpoint,
    load_config,
)
from symcheck.checkpoint.families import KINDS, families
from symcheck.checkpoint.report import (
    FORMATS,
    SCHEMA,
    VERDICTS,
    CheckpointReport,
    SpaceReport,
    render,
)

#: Imported on first use (PEP 562): ``diff`` brings SciPy, which an audit never needs.
_LAZY = {"DiffReport": "symcheck.checkpoint.compare", "diff": "symcheck.checkpoint.compare"}


def __getattr__(name: str) -> Any:
    """``diff`` and ``DiffReport`` from :mod:`symcheck.checkpoint.compare`, on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_THRESHOLD",
    "FORMATS",
    "KINDS",
    "SCHEMA",
    "VERDICTS",
    "CheckpointReport",
    "DiffReport",
    "SpaceReport",
    "audit_checkpoint",
    "diff",
    "families",
    "load_config",
    "render",
]
