"""Union-find over tensor axes that may be products of other axes.

Each element is one axis (of a value or a parameter, or a fresh factor such as
the query heads within a GQA group) with a size. ``union`` joins two classes
(they permute together); ``factor`` says a class is the C-order product of
other classes (heads x head_dim; channel x spatial), and joining two factored
classes joins their factors. When two factorisations of one class disagree the
class and every factor is fixed: fixing can only hide a symmetry, never invent
one (soundness rule of docs/theory.md).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AxisUnionFind"]


class AxisUnionFind:
    """Classes of axes with sizes, factorisations, fixed marks and name hints."""

    def __init__(self) -> None:
        self._parent: list[int] = []
        self._size: list[int] = []
        self._factors: dict[int, tuple[int, ...]] = {}
        self._fixed: set[int] = set()
        self._hints: dict[int, list[tuple[int, str, str]]] = {}

    def new(self, size: int) -> int:
        """A fresh element of the given size."""
        self._parent.append(len(self._parent))
        self._size.append(size)
        return len(self._parent) - 1

    def find(self, a: int) -> int:
        root = a
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[a] != root:
            self._parent[a], a = root, self._parent[a]
        return root

    def size(self, a: int) -> int:
        return self._size[self.find(a)]

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self._size[ra] != self._size[rb]:
            raise AssertionError(
                f"a symmetry rule joined axes of sizes {self._size[ra]} and {self._size[rb]}"
            )
        self._parent[rb] = ra
        if rb in self._fixed:
            self._fixed.add(ra)
        self._hints.setdefault(ra, []).extend(self._hints.pop(rb, []))
        fb = self._factors.pop(rb, None)
        if fb is not None:
            self._set_factors(ra, fb)

    def factor(self, a: int, parts: Sequence[int]) -> None:
        """Say that ``a`` is the C-order product of ``parts`` (size-1 parts are dropped)."""
        product = 1
        for p in parts:
            product *= self.size(p)
        if product != self.size(a):
            raise AssertionError(f"factors of sizes {parts} do not multiply to {self.size(a)}")
        kept = tuple(p for p in parts if self.size(p) > 1)
        if len(kept) == 1:
            self.union(a, kept[0])
        elif kept:
            self._set_factors(self.find(a), kept)

    def _set_factors(self, root: int, parts: tuple[int, ...]) -> None:
        old = self._factors.get(root)
        if old is None:
            self._factors[root] = parts
            return
        if [self.size(p) for p in old] == [self.size(p) for p in parts]:
            for p, q in zip(old, parts):
                self.union(p, q)
            return
        self._fixed.add(root)  # two factorisations disagree: fix everything (sound)
        for p in (*old, *parts):
            self._fixed.add(self.find(p))

    def fix(self, a: int) -> None:
        self._fixed.add(self.find(a))

    def hint(self, a: int, priority: int, kind: str, name: str) -> None:
        self._hints.setdefault(self.find(a), []).append((priority, kind, name))

    def close(self) -> None:
        """Propagate fixed marks from products to their factors (call once at the end)."""
        self._fixed = {self.find(a) for a in self._fixed}
        changed = True
        while changed:
            changed = False
            for root in list(self._fixed):
                for p in self._factors.get(self.find(root), ()):
                    r = self.find(p)
                    if r not in self._fixed:
                        self._fixed.add(r)
                        changed = True

    def atoms(self, a: int) -> list[int]:
        """The unfactored classes that make up ``a``, outermost first (sizes > 1)."""
        root = self.find(a)
        parts = self._factors.get(root)
        if parts is None:
            return [root] if self._size[root] > 1 else []
        return [atom for p in parts for atom in self.atoms(p)]

    def is_fixed(self, a: int) -> bool:
        return self.find(a) in self._fixed

    def hints(self, a: int) -> list[tuple[int, str, str]]:
        return list(self._hints.get(self.find(a), []))
