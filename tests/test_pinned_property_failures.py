"""Failures the property suite found, pinned as regression tests.

Each test rebuilds the falsifying example exactly. While a bug is open its
test is marked ``xfail`` (strict, see pyproject.toml), so the suite fails as
soon as the bug is fixed and the marker goes.
"""

from __future__ import annotations

import numpy as np

from symcheck import Network
from symcheck.confirm.gradcheck import gradient_scale
from symcheck.model.init import initialize


def test_gradient_scale_of_a_bce_network_with_a_very_negative_logit() -> None:
    # Found by properties/test_permutation_equivariance.py (within rounding),
    # dev profile, in a full run on 2026-11-29: a 1-2-3-2 `square` network has
    # the logit -1124 on the input 2, and the overflow warning is an error.
    net = Network((1, 2, 3, 2), ("square", "square"), loss="bce", bias=False)
    params = initialize(net, "normal", rng=np.random.default_rng(3), bias=0.0)
    x = np.array([[0.0], [0.0], [2.0]])
    y = np.zeros((3, 2))
    scale = gradient_scale(net, params, x, y)
    assert np.isfinite(scale) and scale > 0
