"""symcheck: prove, confirm and measure symmetry breaking in initialisation.

The public names are re-exported here; see the README for a tour. The
modules are grouped by pillar (README, "Layout"); the old flat import paths
(table in :mod:`symcheck._moved`) name the same module objects.
"""

from __future__ import annotations

from symcheck import _moved
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

_moved.install()

__version__ = "0.1.0"

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
