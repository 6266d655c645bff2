"""symcheck: prove, confirm and measure symmetry breaking in initialisation.

The public names are re-exported here; see the README for a tour.
"""

from __future__ import annotations

from symcheck.activations import ACTIVATIONS, Activation, get_activation
from symcheck.errors import InvalidArgument, SymcheckError, UnsafeFile
from symcheck.losses import LOSSES, Loss, get_loss
from symcheck.network import Network

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "Activation",
    "InvalidArgument",
    "Loss",
    "Network",
    "SymcheckError",
    "UnsafeFile",
    "__version__",
    "get_activation",
    "get_loss",
]
