"""symcheck: prove, confirm and measure symmetry breaking in initialisation.

The public names are re-exported here; see the README for a tour. They are
imported on first use (PEP 562 module ``__getattr__``), so that
``import symcheck.checkpoint`` (the checkpoint audit, NumPy only) does not pay
for SymPy and the rest of the package. The modules are grouped by pillar
(README, "Layout"); the old flat import paths (table in
:mod:`symcheck._moved`) name the same module objects.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the eager imports, for type checkers and IDEs
    from symcheck.audit import audit_file
    from symcheck.audit.weights import load_weights
    from symcheck.errors import InvalidArgument, SymcheckError, UnsafeFile
    from symcheck.measure.optim import OPTIMIZERS, get_optimizer
    from symcheck.measure.scale import mean_field
    from symcheck.measure.train import Trajectory, train
    from symcheck.model.activations import ACTIVATIONS, Activation, get_activation
    from symcheck.model.example import classic_slide
    from symcheck.model.init import INITIALIZERS, get_initializer, initialize
    from symcheck.model.losses import LOSSES, Loss, get_loss
    from symcheck.model.network import Network
    from symcheck.prove.certificate import verify_certificate
    from symcheck.prove.derive import derive
    from symcheck.prove.lumping import prove_lumping_preserved
    from symcheck.prove.oracle import gradients
    from symcheck.prove.partition import coarsest_equitable_partition, effective_widths, tie_classes
    from symcheck.prove.symbolic import (
        INITS,
        InitPoint,
        init_point,
        layered_gradients,
        plain_gradients,
    )
    from symcheck.prove.theorems import (
        THEOREMS,
        prove_identical_updates,
        prove_preserved,
        prove_symmetry_breaks,
    )

__version__ = "0.1.0"

#: Module -> the public names it defines (each imported on first use).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "model.activations": ("ACTIVATIONS", "Activation", "get_activation"),
    "audit": ("audit_file",),
    "prove.certificate": ("verify_certificate",),
    "prove.derive": ("derive",),
    "errors": ("InvalidArgument", "SymcheckError", "UnsafeFile"),
    "model.example": ("classic_slide",),
    "model.init": ("INITIALIZERS", "get_initializer", "initialize"),
    "model.losses": ("LOSSES", "Loss", "get_loss"),
    "prove.lumping": ("prove_lumping_preserved",),
    "model.network": ("Network",),
    "measure.optim": ("OPTIMIZERS", "get_optimizer"),
    "prove.oracle": ("gradients",),
    "prove.partition": ("coarsest_equitable_partition", "effective_widths", "tie_classes"),
    "measure.scale": ("mean_field",),
    "prove.symbolic": ("INITS", "InitPoint", "init_point", "layered_gradients", "plain_gradients"),
    "prove.theorems": (
        "THEOREMS",
        "prove_identical_updates",
        "prove_preserved",
        "prove_symmetry_breaks",
    ),
    "measure.train": ("Trajectory", "train"),
    "audit.weights": ("load_weights",),
}
_SOURCES = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module 'symcheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"symcheck.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package module; the attributes ``train`` and ``derive`` stay the functions.

    Importing a submodule binds it as an attribute of the package. Two
    modules, ``measure.train`` and ``prove.derive``, had old flat paths named
    like the function they export; importing them by the old path must not
    rebind the function to the module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            isinstance(value, types.ModuleType)
            and name in _SOURCES
            and value.__name__ == f"{__name__}.{_SOURCES[name]}"
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

from symcheck import _moved  # noqa: E402  (after the class swap: aliases bind through it)

_moved.install()


__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "INITS",
    "LOSSES",
    "OPTIMIZERS",
    "THEOREMS",
    "Activation",
    "InitPoint",
    "InvalidArgument",
    "Loss",
    "Network",
    "SymcheckError",
    "Trajectory",
    "UnsafeFile",
    "__version__",
    "audit_file",
    "classic_slide",
    "coarsest_equitable_partition",
    "derive",
    "effective_widths",
    "get_activation",
    "get_initializer",
    "get_loss",
    "get_optimizer",
    "gradients",
    "init_point",
    "initialize",
    "layered_gradients",
    "load_weights",
    "mean_field",
    "plain_gradients",
    "prove_identical_updates",
    "prove_lumping_preserved",
    "prove_preserved",
    "prove_symmetry_breaks",
    "tie_classes",
    "train",
    "verify_certificate",
]
