"""The PyTorch front end: a user's ``nn.Module`` as a symcheck graph.

Needs the optional ``torch`` extra. :func:`symmetries`, :func:`tie_classes`,
:func:`gradients` and the structural proof :func:`prove` (see
:mod:`symcheck.torch.api`) capture the module with
``torch.export`` (:mod:`symcheck.torch.capture`) and translate its aten graph
op by op (:mod:`symcheck.torch.translate`); results are keyed by the
module's own parameter names. :func:`tie_survival`
(:mod:`symcheck.torch.survival`) trains a copy with a torch optimiser,
measures how long the ties last and locates the first op whose output
differs between tied units (:mod:`symcheck.torch.locate`, over the op trace
of :mod:`symcheck.torch.optrace`); :mod:`symcheck.torch.survival_plot` draws
it. :func:`gradcheck`
(:mod:`symcheck.torch.autograd_check`) checks autograd's first and second
derivatives of any torch callable; :class:`CollapseMonitor`
(:mod:`symcheck.torch.monitor`) follows width, zero units and tie drift
during a user's training loop. Guide: ``docs/torch.md``.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # torch is an optional extra
    raise ImportError(
        "symcheck.torch needs PyTorch; install it with: pip install 'symcheck[torch]'"
    ) from exc

from symcheck.torch.api import (
    Gradients,
    TieClasses,
    gradients,
    prove,
    symmetries,
    tie_classes,
)
from symcheck.torch.autograd_check import GradcheckResult, gradcheck
from symcheck.torch.monitor import CollapseMonitor
from symcheck.torch.survival import TieSurvival, tie_survival

__all__ = [
    "CollapseMonitor",
    "GradcheckResult",
    "Gradients",
    "TieClasses",
    "TieSurvival",
    "gradcheck",
    "gradients",
    "prove",
    "symmetries",
    "tie_classes",
    "tie_survival",
]
