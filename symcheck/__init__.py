"""symcheck: prove, confirm and measure symmetry breaking in initialisation.

The public names are re-exported here; see the README for a tour. They are
imported on first use (PEP 562 module ``__getattr__``), so that
``import symcheck.checkpoint`` (the checkpoint audit, NumPy only) does not pay
for SymPy and the rest of the package.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the eager imports, for type checkers and IDEs
    from symcheck.activations import ACTIVATIONS, Activation, get_activation
    from symcheck.audit import audit_file
    from symcheck.certificate import verify_certificate
    from symcheck.derive import derive
    from symcheck.errors import InvalidArgument, SymcheckError, UnsafeFile
    from symcheck.example import classic_slide
    from symcheck.init import INITIALIZERS, get_initializer, initialize
    from symcheck.losses import LOSSES, Loss, get_loss
    from symcheck.lumping import prove_lumping_preserved
    from symcheck.network import Network
    from symcheck.optim import OPTIMIZERS, get_optimizer
    from symcheck.oracle import gradients
    from symcheck.partition import coarsest_equitable_partition, effective_widths, tie_classes
    from symcheck.scale import mean_field
    from symcheck.symbolic import INITS, InitPoint, init_point, layered_gradients, plain_gradients
    from symcheck.theorems import (
        THEOREMS,
        prove_identical_updates,
        prove_preserved,
        prove_symmetry_breaks,
    )
    from symcheck.train import Trajectory, train
    from symcheck.weights import load_weights

__version__ = "0.1.0"

#: Module -> the public names it defines (each imported on first use).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "activations": ("ACTIVATIONS", "Activation", "get_activation"),
    "audit": ("audit_file",),
    "certificate": ("verify_certificate",),
    "derive": ("derive",),
    "errors": ("InvalidArgument", "SymcheckError", "UnsafeFile"),
    "example": ("classic_slide",),
    "init": ("INITIALIZERS", "get_initializer", "initialize"),
    "losses": ("LOSSES", "Loss", "get_loss"),
    "lumping": ("prove_lumping_preserved",),
    "network": ("Network",),
    "optim": ("OPTIMIZERS", "get_optimizer"),
    "oracle": ("gradients",),
    "partition": ("coarsest_equitable_partition", "effective_widths", "tie_classes"),
    "scale": ("mean_field",),
    "symbolic": ("INITS", "InitPoint", "init_point", "layered_gradients", "plain_gradients"),
    "theorems": (
        "THEOREMS",
        "prove_identical_updates",
        "prove_preserved",
        "prove_symmetry_breaks",
    ),
    "train": ("Trajectory", "train"),
    "weights": ("load_weights",),
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
    """The package module; ``symcheck.train`` and ``symcheck.derive`` stay the functions.

    Importing a submodule binds it as an attribute of the package. Two
    submodules are named like the function they export (``train``,
    ``derive``); the eager re-exports used to rebind the function over the
    submodule, and this keeps it so when the submodule is first imported later.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            isinstance(value, types.ModuleType)
            and _SOURCES.get(name) == name
            and value.__name__ == f"{__name__}.{name}"
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
