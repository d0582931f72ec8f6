"""Prove a formatting safe before anything is written (as black does).

The printer is meant to be correct by construction; this module makes sure
a bug in it can never corrupt a playbook.  The formatted text must:

1. parse without diagnostics;
2. mean the same: per playbook, the items grouped by kind, in source order,
   compare equal (spans ignored; compared through repr, which also tells 1
   from 1.0 and never shows spans), and, when `fsl.compiler.plan_hashes` is
   available and can compile the original, the plan hashes are equal;
3. keep every comment (the same multiset of comment texts);
4. be a fixed point: formatting it again gives the same text;
5. have no trailing spaces and end with exactly one newline.

Any failure raises FormatError; the caller then leaves the file untouched.
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ..syntax import nodes as n
from ..syntax.parser import parse_module

if TYPE_CHECKING:  # the compiler and the project file load lazily (see plan_hashes)
    from ..config import Config


# a playbook's name, and the reprs of its items grouped by kind
_PlaybookKey = tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]


class FormatError(Exception):
    """The formatted text failed a safety check; nothing should be written."""


def semantic_key(module: n.Module) -> tuple[_PlaybookKey, ...]:
    """What formatting must preserve: playbooks in order, items by kind in order."""
    key: list[_PlaybookKey] = []
    for pb in module.playbooks:
        groups: dict[str, list[str]] = defaultdict(list)
        for item in pb.items:
            groups[type(item).__name__].append(repr(item))
        key.append((pb.name, tuple(sorted((k, tuple(v)) for k, v in groups.items()))))
    return tuple(key)


def comment_texts(module: n.Module) -> list[str]:
    return sorted(c.text for c in module.comments)


def plan_hashes(module: n.Module, config: Config | None) -> list[str] | None:
    """The compiler's plan hashes, or None when there is no compiler yet.

    Imported lazily: the compiler is optional for formatting, and importing
    it would slow `fsl fmt` down for nothing when it is absent.
    """
    try:
        from ..compiler import plan_hashes as compute
    except ImportError:
        return None
    return list(compute(module, config))


def verify_formatting(original: n.Module, formatted: str, file: str, config: Config | None = None) -> None:
    """Raise FormatError unless `formatted` is a safe rewrite of `original`."""
    from .printer import format_module

    where = f"{file}: " if file else ""
    again, diags = parse_module(formatted, file)
    diags = [d for d in diags if d.is_error]  # warnings (W409: no playbook) are the checker's business
    if diags or again.broken:
        first = diags[0] if diags else None
        detail = f" ({first.code} at {first.span.line}:{first.span.column}: {first.message})" if first else ""
        raise FormatError(f"{where}the formatted text does not parse{detail}; this is a bug in fsl fmt")
    if semantic_key(again) != semantic_key(original):
        raise FormatError(f"{where}the formatted text means something else; this is a bug in fsl fmt")
    if comment_texts(again) != comment_texts(original):
        lost = sorted(set(comment_texts(original)) - set(comment_texts(again)))
        raise FormatError(f"{where}formatting would lose or duplicate comments {lost[:3]}; this is a bug in fsl fmt")
    if any(line != line.rstrip() for line in formatted.split("\n")) or (
        formatted and (not formatted.endswith("\n") or formatted.endswith("\n\n"))
    ):
        raise FormatError(f"{where}the formatted text has trailing whitespace; this is a bug in fsl fmt")
    if format_module(again, formatted) != formatted:
        raise FormatError(f"{where}formatting is not idempotent on this file; this is a bug in fsl fmt")
    _same_plans(original, again, where, config)


def _same_plans(original: n.Module, again: n.Module, where: str, config: Config | None) -> None:
    try:
        before = plan_hashes(original, config)
    except Exception:  # noqa: BLE001 - a file that does not compile can still be formatted
        return
    if before is None:
        return
    try:
        after = plan_hashes(again, config)
    except Exception as e:  # noqa: BLE001
        raise FormatError(f"{where}the formatted text no longer compiles ({e}); this is a bug in fsl fmt") from e
    if after != before:
        raise FormatError(f"{where}the formatted text compiles to a different plan; this is a bug in fsl fmt")
