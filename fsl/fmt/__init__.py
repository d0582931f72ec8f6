"""`fsl fmt`: rewrite playbooks in the canonical layout, keeping comments.

Public API:

- `format_source(source, file="<input>", config=None) -> str`: parse, print
  and verify one file's text.  Raises `SourceError` (with `.diagnostics`)
  when the text has syntax errors, and `FormatError` when the result fails a
  safety check (verify.py).
- `format_module(module, source) -> str`: the printer alone (printer.py
  documents the layout rules).
- `fmt_paths(paths, check=False, diff=False, config=None) -> (exit_code,
  messages)`: what the `fsl fmt` command does.  `paths` are files or folders
  (folders are searched for *.fsl recursively, skipping hidden folders);
  `config` is the loaded project config or None, passed to the compiler to
  compare plan hashes.  Without flags, changed files are rewritten in place;
  with `check` or `diff` nothing is written.  `messages` are lines of human
  text, in order, for the CLI to print one per line; a diff is one multi-line
  message (starting with "--- ", ending without a newline), so the CLI may
  send diffs to stdout and the rest to stderr, as black does.  exit_code follows CLI.md: 2 when a path is
  missing or unreadable or a file has syntax errors (that file is left
  alone; its diagnostics are in the messages), else 1 when `check` found a
  file to reformat or a formatting failed its safety check, else 0.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..diagnostics import Diagnostic
from ..syntax.parser import parse_module
from .printer import format_module
from .verify import FormatError, verify_formatting

if TYPE_CHECKING:  # pydantic is slow to import and formatting needs no project file
    from ..config import Config

__all__ = ["FormatError", "SourceError", "format_module", "format_source", "fmt_paths", "find_files"]


class SourceError(Exception):
    """The input has syntax errors; `diagnostics` says which."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        super().__init__(_describe(first) if first else "syntax errors")


def _describe(d: Diagnostic) -> str:
    return f"{d.span.file}:{d.span.line}:{d.span.column}: {d.code} {d.message}"


def format_source(source: str, file: str = "<input>", config: Config | None = None) -> str:
    module, diags = parse_module(source, file)
    errors = [d for d in diags if d.severity == "error"]
    if errors or module.broken:
        raise SourceError(errors)
    out = format_module(module, source)
    verify_formatting(module, out, file, config)
    return out


def find_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """(the .fsl files to format, in a stable order without repeats; the paths that do not exist)."""
    files: list[Path] = []
    missing: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.fsl")
                           if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.exists():
            found = [path]
        else:
            missing.append(path)
            continue
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files, missing


def fmt_paths(paths: Iterable[str | Path], check: bool = False, diff: bool = False,
              config: Config | None = None) -> tuple[int, list[str]]:
    files, missing = find_files(paths)
    messages = [f"error: {p}: no such file or folder" for p in missing]
    code = 2 if missing else 0
    changed = unchanged = failed = 0
    for f in files:
        try:
            source = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            messages.append(f"error: cannot read {f}: {e}")
            code, failed = 2, failed + 1
            continue
        try:
            out = format_source(source, str(f), config)
        except SourceError as e:
            messages.append(f"error: cannot format {f}: it has syntax errors")
            messages.extend("  " + _describe(d) for d in e.diagnostics)
            code, failed = 2, failed + 1
            continue
        except FormatError as e:
            messages.append(f"error: cannot format {f}: {e}")
            code, failed = max(code, 1), failed + 1
            continue
        if out == source:
            unchanged += 1
            continue
        changed += 1
        if diff:
            messages.append(_diff(source, out, str(f)))
        if check:
            messages.append(f"would reformat {f}")
            code = max(code, 1)
        elif not diff:
            try:
                f.write_text(out, encoding="utf-8")
            except OSError as e:
                messages.append(f"error: cannot write {f}: {e}")
                code, failed, changed = 2, failed + 1, changed - 1
                continue
            messages.append(f"reformatted {f}")
    messages.append(_summary(changed, unchanged, failed, dry=check or diff, nothing=not files and not missing))
    return code, messages


def _diff(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 f"{name}\t(original)", f"{name}\t(formatted)")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines).rstrip("\n")


def _plural(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _summary(changed: int, unchanged: int, failed: int, dry: bool, nothing: bool) -> str:
    if nothing:
        return "no .fsl files to format"
    parts = []
    if changed:
        parts.append(_plural(changed, "file") + (" would be reformatted" if dry else " reformatted"))
    if unchanged:
        parts.append(_plural(unchanged, "file") + (" would be left unchanged" if dry else " left unchanged"))
    if failed:
        parts.append(_plural(failed, "file") + (" would fail to reformat" if dry else " failed to reformat"))
    return ", ".join(parts) + "."
