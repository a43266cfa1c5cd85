"""The hits of a word most sessions hold, in the table's order, kept while the index stays the same.

A deep page of such a search (page 2,000 of "lighthouse" in 100,000 sessions) would otherwise walk the
sort's index from the top and test every session on the way. Here the hits are put in order once, and
every page is a slice of that list until the index changes (its generation moves at every write, in any
process), so turning pages costs what the page shows."""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable, Hashable

from .index_db import IndexDB

# Orders kept at once (each 8 bytes a hit: 800 KB for 100,000 hits); the oldest goes first.
MAX_ORDERS = 4


class HitOrders:
    """Ordered lists of row numbers by what they answer (words, tag, order); safe to share between threads."""

    def __init__(self) -> None:
        self._orders: dict[Hashable, tuple[int, array[int]]] = {}
        self._guard = threading.Lock()

    def ordered(self, db: IndexDB, key: Hashable, make: Callable[[], array[int]]) -> array[int]:
        """The list for ``key`` at the index's present generation, made by ``make`` when there is none."""
        generation = db.generation()  # read first: a write during ``make`` leaves a list that is made again
        with self._guard:
            known = self._orders.get(key)
        if known is not None and known[0] == generation:
            return known[1]
        numbers = make()
        with self._guard:
            self._orders.pop(key, None)
            while len(self._orders) >= MAX_ORDERS:
                self._orders.pop(next(iter(self._orders)))
            self._orders[key] = (generation, numbers)
        return numbers

    def known(self, db: IndexDB, key: Hashable) -> array[int] | None:
        """The list for ``key`` when one was made at the index's present generation (else None)."""
        with self._guard:
            known = self._orders.get(key)
        return known[1] if known is not None and known[0] == db.generation() else None
