"""The LALR parser of grammar/fsl.lark, built once: lark with our scanner and
indentation post-lexer, and a faster position propagation.

Its own module so that the parser (which parses) and the error wording (which
names the grammar's terminals) both depend on it, not on each other.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import cast

from lark import Lark, Tree, parse_tree_builder
from lark.tree import Meta

from .build import AstBuilder
from .lexer import FslIndenter
from .scanner import FslScanner

GRAMMAR = Path(__file__).resolve().parent.parent / "grammar" / "fsl.lark"


class _ContainerMeta(Meta):
    """A Meta as position propagation leaves it: lark sets these without declaring them."""

    container_line: int
    container_column: int
    container_start_pos: int
    container_end_line: int
    container_end_column: int
    container_end_pos: int


class _Positions(parse_tree_builder.PropagatePositions):
    """lark's position propagation, with a fast path for unit reductions.

    A chain of single-child rules (expr -> or_expr -> ... -> atom) hands the
    same subtree up level after level; recomputing its position at every level
    gives the same values, so we return it untouched.  Everything else is
    lark's own code path.
    """

    def __call__(self, children: list[object]) -> object:
        if len(children) == 1:
            res = self.node_builder(children)
            if res is children[0]:
                return res
            return self._propagate(res, children)
        return self._propagate(self.node_builder(children), children)

    def _propagate(self, res: object, children: list[object]) -> object:
        # lark 1.x's PropagatePositions.__call__ after the node is built
        if isinstance(res, Tree):
            res_meta = cast(_ContainerMeta, res.meta)
            first = self._pp_get_meta(children)
            if first is not None:
                if not hasattr(res_meta, "line"):
                    res_meta.line = getattr(first, "container_line", first.line)
                    res_meta.column = getattr(first, "container_column", first.column)
                    res_meta.start_pos = getattr(first, "container_start_pos", first.start_pos)
                    res_meta.empty = False
                res_meta.container_line = getattr(first, "container_line", first.line)
                res_meta.container_column = getattr(first, "container_column", first.column)
                res_meta.container_start_pos = getattr(first, "container_start_pos", first.start_pos)
            last = self._pp_get_meta(reversed(children))
            if last is not None:
                if not hasattr(res_meta, "end_line"):
                    res_meta.end_line = getattr(last, "container_end_line", last.end_line)
                    res_meta.end_column = getattr(last, "container_end_column", last.end_column)
                    res_meta.end_pos = getattr(last, "container_end_pos", last.end_pos)
                    res_meta.empty = False
                res_meta.container_end_line = getattr(last, "container_end_line", last.end_line)
                res_meta.container_end_column = getattr(last, "container_end_column", last.end_column)
                res_meta.container_end_pos = getattr(last, "container_end_pos", last.end_pos)
        return res


@lru_cache(maxsize=None)
def lark_parser(strict: bool = False) -> tuple[Lark, AstBuilder]:
    builder = AstBuilder()
    stock = parse_tree_builder.PropagatePositions
    # read by lark while it builds the callbacks; mypy forbids assigning to a class name
    parse_tree_builder.PropagatePositions = _Positions  # type: ignore[misc]
    try:
        lark = _make_lark(strict)
    finally:
        parse_tree_builder.PropagatePositions = stock  # type: ignore[misc]
    return lark, builder


def _make_lark(strict: bool) -> Lark:
    return Lark(
        GRAMMAR.read_text(),
        parser="lalr",
        # strict mode (tests) checks the grammar with lark's own lexer; parsing uses ours
        lexer="contextual" if strict else FslScanner,
        postlex=FslIndenter(),
        propagate_positions=True,
        maybe_placeholders=True,
        strict=strict,
        cache=not strict,
    )


def grammar_parser(strict: bool = True) -> Lark:
    """The raw lark parser (tests build it with strict=True to keep the grammar conflict-free)."""
    return lark_parser(strict)[0]
