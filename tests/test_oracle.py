"""The exact oracle: hand-checkable rationals, certified digits, agreement with NumPy."""

from __future__ import annotations

import numpy as np
import sympy as sp

from symcheck.measure import numeric
from symcheck.model.network import Network
from symcheck.prove.oracle import exact, gradients

R = sp.Rational


def test_oracle_gives_the_hand_computed_rational_gradient():
    # 1-1-1 identity net, mse, w=1/2, b=0, v=3, c=0, x=2, y=1: L = (v (w x + b) + c - y)^2 / 2,
    # residual e = 3*1 - 1 = 2, dL/dw = e v x = 12, dL/db = e v = 6, dL/dv = e h = 2, dL/dc = 2.
    net = Network.parse("1-1-1", activation="identity")
    grads = gradients(net, [([["1/2"]], [0]), ([[3]], [0])], [[2]], [[1]])
    assert grads == (((((R(12),),), (R(6),)), (((R(2),),), (R(2),))))


def test_floats_are_converted_by_their_exact_binary_value():
    assert exact(0.1) == R(3602879701896397, 36028797018963968)
    assert exact("0.1") == R(1, 10)


def test_oracle_digits_are_certified_and_match_numpy_within_ulps():
    net = Network.parse("2-2-1", activation="tanh")
    params = [
        (np.array([[0.5, -0.25], [0.125, 1.0]]), np.array([0.0, 0.5])),
        (np.array([[1.0, -2.0]]), np.array([0.25])),
    ]
    x, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    exact_grads = gradients(net, params, x, y, digits=30)
    num = numeric.gradients(net, params, x, y)
    for (ew, eb), (nw, nb) in zip(exact_grads, num):
        flat_e = np.array([float(v) for row in ew for v in row] + [float(v) for v in eb])
        flat_n = np.concatenate([nw.ravel(), nb])
        # float64 forward/backward of a 2-2-1 net: a few roundings per entry, each <= 1 ulp
        # of the running magnitude (bounded by 4 here); 16 ulps of that magnitude is generous.
        assert np.all(np.abs(flat_e - flat_n) <= 16 * np.spacing(4.0))
