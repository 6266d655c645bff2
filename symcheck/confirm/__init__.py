"""Confirm (Hypothesis, pytest): the theorems, tested on numbers.

Public Hypothesis strategies for networks, data, parameters, optimisers and
planted equitable partitions; gradient checks against central differences
and the complex step; assertion helpers for a project's own tests, and the
pytest plugin that exposes them (registered as ``symcheck.pytest_plugin``).
"""
