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
        """Join the classes of ``a`` and ``b`` (and, pairwise, the factors of two products)."""
        pending = [(a, b)]
        while pending:  # a work list, not recursion: products may nest deeply
            x, y = pending.pop()
            rx, ry = self.find(x), self.find(y)
            if rx == ry:
                continue
            if self._size[rx] != self._size[ry]:
                raise AssertionError(
                    f"a symmetry rule joined axes of sizes {self._size[rx]} and {self._size[ry]}"
                )
            self._parent[ry] = rx
            if ry in self._fixed:
                self._fixed.add(rx)
            self._hints.setdefault(rx, []).extend(self._hints.pop(ry, []))
            fy = self._factors.pop(ry, None)
            if fy is not None:
                pending.extend(self._merge_factors(rx, fy))

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
            for x, y in self._merge_factors(self.find(a), kept):
                self.union(x, y)

    def _merge_factors(self, root: int, parts: tuple[int, ...]) -> list[tuple[int, int]]:
        """Record ``parts`` as the factors of ``root``; return the pairs still to join."""
        old = self._factors.get(root)
        if old is None:
            self._factors[root] = parts
            return []
        if [self.size(p) for p in old] == [self.size(p) for p in parts]:
            return list(zip(old, parts))
        self._fixed.add(root)  # two factorisations disagree: fix everything (sound)
        for p in (*old, *parts):
            self._fixed.add(self.find(p))
        return []

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
        result: list[int] = []
        stack = [a]
        while stack:  # depth-first, left to right, without recursion
            root = self.find(stack.pop())
            parts = self._factors.get(root)
            if parts is None:
                if self._size[root] > 1:
                    result.append(root)
            else:
                stack.extend(reversed(parts))
        return result

    def is_fixed(self, a: int) -> bool:
        return self.find(a) in self._fixed

    def hints(self, a: int) -> list[tuple[int, str, str]]:
        return list(self._hints.get(self.find(a), []))
