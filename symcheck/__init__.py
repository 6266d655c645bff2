"""symcheck: prove, confirm and measure symmetry breaking in initialisation.

The public names are re-exported here; see the README for a tour.
"""

from __future__ import annotations

from symcheck.activations import ACTIVATIONS, Activation, get_activation
from symcheck.errors import InvalidArgument, SymcheckError, UnsafeFile
from symcheck.init import INITIALIZERS, get_initializer, initialize
from symcheck.losses import LOSSES, Loss, get_loss
from symcheck.network import Network
from symcheck.optim import OPTIMIZERS, get_optimizer
from symcheck.train import Trajectory, train

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LOSSES",
    "OPTIMIZERS",
    "Activation",
    "InvalidArgument",
    "Loss",
    "Network",
    "SymcheckError",
    "Trajectory",
    "UnsafeFile",
    "__version__",
    "get_activation",
    "get_initializer",
    "get_loss",
    "get_optimizer",
    "initialize",
    "train",
]
