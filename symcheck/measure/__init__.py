"""Measure (NumPy): the numbers of a concrete network.

The batched float64 engine, optimisers as pure update functions and the
training loop with explicit symmetry breakers; mean-field theory of the
initialisation scale (Gaussian expectations, the variance map, depth scales)
and the diagnosis of a concrete network; the pictures.
"""
