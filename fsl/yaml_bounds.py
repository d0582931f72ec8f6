"""Bounds on a YAML document, checked on parser events before anything is built.

A project file is small, but YAML lets a few lines describe a huge or deep
tree: nine lines of aliases to aliases make 10^9 leaves (the "billion
laughs"), and a flow list nested a few hundred deep exhausts the recursion
of ruamel's composer.  The parser itself is a state machine, so its events
are scanned first, counting how many nodes the document stands for once
every alias is expanded and how deep its collections nest; only a document
within bounds is composed and loaded.
"""
from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

MAX_BYTES = 1 << 20  # characters in the file
MAX_DEPTH = 64  # collections inside collections
MAX_NODES = 100_000  # nodes with every alias expanded (a real fsl.yaml has hundreds)


class TooBig(MarkedYAMLError):
    """The document is beyond a bound; `problem` says which, `problem_mark` where."""


class _Mark:
    """A position for a bound that concerns the whole file."""

    line, column = 0, 0


def check_bounds(text: str) -> None:
    """Raise TooBig when `text` is too large, too deep or expands to too many
    nodes; syntax errors raise ruamel's own MarkedYAMLError, as loading would."""
    if len(text) > MAX_BYTES:
        raise TooBig(problem=f"the file is larger than {MAX_BYTES} characters", problem_mark=_Mark())
    sizes: dict[Any, int] = {}  # anchor -> expanded node count of what it names
    stack: list[list[Any]] = [[None, 0]]  # open collections: [anchor, expanded node count so far]
    total = 0
    for event in YAML(typ="rt").parse(text):
        if isinstance(event, CollectionStartEvent):
            if len(stack) > MAX_DEPTH:
                raise TooBig(problem=f"collections nest deeper than {MAX_DEPTH} levels",
                             problem_mark=event.start_mark)
            stack.append([event.anchor, 1])
            continue
        if isinstance(event, CollectionEndEvent):
            anchor, count = stack.pop()
            if anchor is not None:
                sizes[anchor] = count
            stack[-1][1] += count
            continue
        if isinstance(event, ScalarEvent):
            count = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, AliasEvent):
            count = sizes.get(event.anchor, 1)  # an unknown anchor is the composer's error
        else:
            continue
        stack[-1][1] += count
        total += count
        if total > MAX_NODES or stack[-1][1] > MAX_NODES:
            raise TooBig(problem=f"the document expands to more than {MAX_NODES} values "
                                 "(aliases of aliases?)", problem_mark=event.start_mark)
