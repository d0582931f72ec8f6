"""Dicts a row from columns of values: what an import builds a million times.

`dicts(names, columns)[i]` is `dict(zip(names, [column[i] for column in columns]))`,
built by a generated dict display (`{k0: v0, k1: v1, ...}` in a list
comprehension over `zip(*columns)`): half the time of `dict(zip(...))`, which
takes a zip and a resize a row.  Used by the CSV reader (fsl.io.rows, a
contact's fields) and the store's codec (fsl.store.codec.dumps_columns, the
same rows tagged for JSON).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, cast

MAX_DISPLAY = 64  # names up to which the dicts are built with a dict display


def dicts(names: Sequence[str], columns: Sequence[Sequence[Any]], rows: int) -> list[dict[str, Any]]:
    """A dict of the names a row, for `rows` rows (columns[j][i]: row i's value of names[j])."""
    if not names:
        return [{} for _ in range(rows)]
    if len(names) > MAX_DISPLAY:
        return list(map(dict, map(functools.partial(zip, names), zip(*columns))))
    return _display(len(names))(*names, columns)


@functools.cache
def _display(n: int) -> Callable[..., list[dict[str, Any]]]:
    """make(k0, ..., k{n-1}, columns): [{k0: v0, ...} for v0, ... in zip(*columns)].
    Only the number n is in the code, never a name."""
    keys = ", ".join(f"k{i}" for i in range(n))
    values = "".join(f"v{i}, " for i in range(n))
    items = ", ".join(f"k{i}: v{i}" for i in range(n))
    namespace: dict[str, Any] = {}
    exec(f"def make({keys}, columns):\n    return [{{{items}}} for {values}in zip(*columns)]\n", namespace)
    return cast(Callable[..., list[dict[str, Any]]], namespace["make"])
