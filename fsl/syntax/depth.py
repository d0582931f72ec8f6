"""The one nesting limit of the language (LANGUAGE.md has none; DECISIONS.md "Limits").

Blocks (a step's body, each `if`/`elif`/`else`/`case` body) and expression
operators (`and`, `or`, `not`, comparisons, arithmetic, unary minus, calls,
lists, `x if c else y`) each nest one level; parentheses add none.  The
parser measures the depth on lark's parse tree, before anything recursive
runs over it, and a playbook deeper than `MAX_DEPTH` is an E101 at its
deepest point.  Every later stage (checker, compiler and its hash, the plan's
JSON, fmt, the runtime's evaluator) recurses over what the parser accepted,
so they are tested at exactly this depth (tests/test_depth_limit.py).

Why 50: the plan is JSON, and orjson refuses more than 255 levels; an `if`
costs 4 of them and an operator 2, so 50 levels of `if` and an expression
stay below it with room, and every recursive walk stays far below Python's
default recursion limit of 1000 frames.  Real playbooks nest a handful of
levels; a deeper one is generated, and `let` names parts of it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from lark import Token, Tree

MAX_DEPTH = 50

# Rules of grammar/fsl.lark that open one level of nesting.
NESTING_RULES = frozenset("""
    block conditional or_ and_ not_ eq ne lt le gt ge in_ not_in add sub mul div neg call list
""".split())


@dataclass(frozen=True, slots=True)
class TooDeep:
    depth: int  # the depth of the deepest point
    line: int
    column: int


def too_deep(tree: Tree[Token], limit: int = MAX_DEPTH) -> TooDeep | None:
    """The deepest point of `tree` when it nests more than `limit` levels, else None.

    Iterative on purpose: the input may nest thousands of levels.
    """
    deepest: tuple[int, Tree[Token]] | None = None
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in NESTING_RULES:
            depth += 1
            if depth > limit and (deepest is None or depth > deepest[0]):
                deepest = (depth, node)
        for child in reversed(node.children):
            if type(child) is Tree:
                stack.append((child, depth))
    if deepest is None:
        return None
    depth, node = deepest
    line, column = _start(node)
    return TooDeep(depth, line, column)


def _start(node: Tree[Token]) -> tuple[int, int]:
    """Where `node` starts; a block at its first statement (its _INDENT has the newline's position)."""
    if node.data == "block":
        for child in node.children:
            if type(child) is Tree:
                node = child
                break
            if isinstance(child, Token) and child.type not in ("_INDENT", "_NL", "_DEDENT"):
                return cast(int, child.line), cast(int, child.column)  # our scanner sets every position
    meta = node.meta
    if getattr(meta, "empty", True):
        return 1, 1
    return meta.line, meta.column
