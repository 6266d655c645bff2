"""The catalogue of networks the proofs run over (imported by the tests in this folder)."""

from __future__ import annotations

from symcheck.model.activations import ACTIVATIONS
from symcheck.model.network import Network

NETWORKS = ("2-2-1", "3-4-2", "3-4-4-2", "2-3-3-3-1")
_LOSSES = ("mse", "cross_entropy", "bce", "ell")


def _width_for(spec: str, loss: str) -> str:
    # softmax cross entropy needs at least two outputs
    if loss == "cross_entropy" and spec.endswith("-1"):
        return spec[: -len("1")] + "2"
    return spec


def catalogue() -> list[Network]:
    """Every activation (sigma included) once, rotating through the networks and losses.

    Each loss (ell included) and each network appear at least twice.
    """
    out = []
    for i, act in enumerate(sorted(ACTIVATIONS)):
        spec = NETWORKS[i % len(NETWORKS)]
        loss = _LOSSES[(i + i // len(_LOSSES)) % len(_LOSSES)]
        out.append(Network.parse(_width_for(spec, loss), activation=act, loss=loss))
    return out
