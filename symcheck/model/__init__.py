"""The model: what a network is and how it starts.

The fully connected spec (:mod:`~symcheck.model.network`), the registries of
activations, losses, initialisers and symbolic optimiser rules, parameter-tree
helpers, neuron signatures and the classic slide. Any other architecture is a
graph (:mod:`symcheck.graph`).
"""
