"""The computation-graph model of a network (any architecture).

Sub-modules, one idea each:

* :mod:`symcheck.graph.backend` — the two array backends every kernel runs on
  (NumPy float64/complex and SymPy object arrays);
* :mod:`symcheck.graph.kernels` — forward and backward (vector-Jacobian
  product) of every operation, written once, generic over a backend.
"""
