"""Records from an import file: CSV with a header row, or JSON Lines.

Everything that can go wrong with one row (undecodable bytes, a ragged row,
a line that is not a JSON object, a huge field) becomes a `RowProblem` with
the line number and the reading goes on; only a file that cannot be read at
all, or a CSV header that cannot be used, is fatal (`SourceError`).  Bytes
are decoded line by line, so one Latin-1 line costs that line, not the file.

CSV rows come a batch at a time (`Rows`, its cells by column): a batch in
which every row is one line with a cell for each column and nothing to
report is taken as csv.reader gives it; any other batch is read again from
its lines, a row at a time, and reported exactly as that way always did.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
import operator
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Sequence

from .coerce import MAX_DEPTH, MAX_TEXT, nests_deeper
from .result import RowProblem

MAX_LINE = 1 << 20  # bytes in one line
MAX_FIELD = MAX_TEXT  # characters in one CSV value (csv's own limit is 131072)
CSV_SUFFIXES = frozenset({".csv"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
BOM = b"\xef\xbb\xbf"
BLOCK = MAX_LINE  # bytes of CSV decoded at once (at most MAX_LINE: see Source._blocks)
BATCH_ROWS = 10_000  # rows read at once by Source.records


class SourceError(Exception):
    """The file cannot be read as a whole (exit 2)."""


@dataclass(slots=True)
class Record:
    """One row: its first line, its values by column or key, and whether they are text (CSV)."""

    line: int
    values: dict[str, Any]
    text: bool
    names_line: int  # where the names were given: the CSV header's line, else `line`


class Rows:
    """CSV rows read together, as columns: `cells[j][i]` is row i's cell of the
    header's column `names[j]` (every row has one for each), and row i begins
    on line `lines[i]`; `names_line` is the header's line."""

    __slots__ = ("names", "cells", "lines", "names_line", "_columns")

    def __init__(self, names: list[str], cells: list[tuple[str, ...]], lines: Sequence[int],
                 names_line: int) -> None:
        self.names, self.cells, self.lines, self.names_line = names, cells, lines, names_line
        self._columns: dict[str, tuple[str, ...]] | None = None

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def columns(self) -> dict[str, tuple[str, ...]]:
        """The cells of each named column, by name, in the header's order."""
        if self._columns is None:
            self._columns = {name: column for name, column in zip(self.names, self.cells) if name}
        return self._columns

    def records(self) -> list[Record]:
        """A Record a row, its values by (named) column."""
        names, line = self.names, self.names_line
        if all(names):
            return [Record(n, dict(zip(names, row)), True, line) for n, row in zip(self.lines, zip(*self.cells))]
        return [Record(n, {name: cell for name, cell in zip(names, row) if name}, True, line)
                for n, row in zip(self.lines, zip(*self.cells))]


class Source:
    """The records of `path`, one at a time (`records`) or in batches (`batches`);
    problems go to `problems`."""

    def __init__(self, path: str | Path, problems: list[RowProblem]) -> None:
        self.path = Path(path)
        self.problems = problems
        self.format = "csv"
        self.columns: list[str] = []  # CSV: the header's names, normalised
        self.header: list[str] | None = None  # (CSV) the same, once read
        self.header_line = 0

    def records(self) -> Iterator[Record]:
        for batch in self.batches(BATCH_ROWS):
            yield from batch.records() if isinstance(batch, Rows) else batch

    def batches(self, size: int) -> Iterator[Rows | list[Record]]:
        """The records, a batch of at most `size` at a time: CSV as `Rows`,
        JSON Lines as Records."""
        try:
            handle = self.path.open("rb")
        except IsADirectoryError:
            raise SourceError(f"cannot read {self.path}: it is a folder") from None
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        with handle:
            self.format = self._format(handle)
            if self.format == "csv":
                yield from self._csv(handle, size)
                return
            records = self._jsonl(handle)
            while batch := list(itertools.islice(records, size)):
                yield batch

    # ------------------------------------------------------------ format
    def _format(self, handle: IO[bytes]) -> str:
        start = handle.read(4096)
        handle.seek(0)
        if start.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise SourceError(f"{self.path} is UTF-16; save it as UTF-8")
        suffix = self.path.suffix.lower()
        if suffix in CSV_SUFFIXES:
            return "csv"
        if suffix in JSONL_SUFFIXES:
            return "jsonl"
        first = start.removeprefix(BOM).lstrip()
        return "jsonl" if not first or first.startswith(b"{") else "csv"

    # ------------------------------------------------------------ lines
    def _lines(self, handle: IO[bytes], number: int = 0,
               end: int | None = None) -> Iterator[tuple[int, str | None]]:
        """(line number, text) with text None when the line was reported (too long, not UTF-8),
        from where `handle` is, after line `number`, until it is at `end` (None: the end of the file)."""
        while end is None or handle.tell() < end:
            raw = handle.readline(MAX_LINE + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the line
                    raw = handle.readline(MAX_LINE)
                self.problem(number, f"the line is longer than {MAX_LINE} bytes")
                yield number, None
                continue
            if number == 1:
                raw = raw.removeprefix(BOM)
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.problem(number, f"not UTF-8 text (byte {exc.start + 1} of the line); save the file as UTF-8")
                yield number, None

    def _blocks(self, handle: IO[bytes], bad: set[int]) -> Iterator[tuple[int, str | list[str]]]:
        """The lines `_lines` gives, a line it reported given as an empty line and
        its number added to `bad`, a block of lines at a time for csv.reader, with
        the number of the lines before it: a block that is all UTF-8, with no line
        too long, is decoded in one call and given as its text, to be split at "\n"
        only (as readline splits; see `_split`), without a Python step per line.
        Any other block is read again by `_lines`, so it is reported line by line
        exactly as before, and given as its list of lines."""
        number = 0  # the lines before this block
        while True:
            start = handle.tell()
            data = handle.read(BLOCK)
            if not data:
                return
            if not data.endswith(b"\n"):
                data += handle.readline(MAX_LINE + 1)  # the block ends with a whole line
            # Every line but the last lies within BLOCK <= MAX_LINE bytes: only the last can be too long.
            last = len(data) - (data.rfind(b"\n", 0, len(data) - 1) + 1) - data.endswith(b"\n")
            text = None
            if last <= MAX_LINE:
                try:
                    text = (data.removeprefix(BOM) if number == 0 else data).decode("utf-8")
                except UnicodeDecodeError:
                    pass
            if text is not None:
                yield number, text
                number += data.count(b"\n") + (not data.endswith(b"\n"))
                continue
            handle.seek(start)
            lines = []
            for reached, line in self._lines(handle, number, start + len(data)):
                if line is None:
                    bad.add(reached)
                lines.append("\n" if line is None else line)
            yield number, lines
            number += len(lines)

    def problem(self, line: int, reason: str) -> None:
        self.problems.append(RowProblem(line, reason))

    # ------------------------------------------------------------ JSON Lines
    def _jsonl(self, handle: IO[bytes]) -> Iterator[Record]:
        self.format = "jsonl"
        for number, text in self._lines(handle):
            if text is None or not text.strip():
                continue
            if nests_deeper(text):  # before json.loads, which recurses once per level
                self.problem(number, f"the JSON nests deeper than {MAX_DEPTH} levels")
                continue
            try:
                value = json.loads(text, parse_constant=_no_constant)
            except ValueError as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                where = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
                self.problem(number, f"not valid JSON: {reason}{where}")
                continue
            if not isinstance(value, dict):
                self.problem(number, f"expected a JSON object {{...}}, got {_kind(value)}")
                continue
            yield Record(number, value, False, number)

    # ------------------------------------------------------------ CSV
    def _csv(self, handle: IO[bytes], size: int) -> Iterator[Rows]:
        """The rows, `size` rows of the file at a time (fewer when some are skipped or
        reported).  A batch is read by one csv.reader over the whole file, and taken
        as it is when nothing in it needs a look (`_plain`); any other batch is read
        again, from the same lines, by `_rows`, the row-by-row checks: those lines
        are taken from the blocks the batch was read from (`kept`), not kept a line
        at a time."""
        bad: set[int] = set()
        # The blocks given to the reader, from the one the batch begins in (those before it are
        # dropped once a batch is read): (the lines before it, its text or lines, whether a line
        # of it may be longer than MAX_FIELD).
        kept: deque[tuple[int, str | list[str], bool]] = deque()

        def blocks() -> Iterator[Iterable[str]]:
            for number, block in self._blocks(handle, bad):
                if isinstance(block, str):
                    kept.append((number, block, _long(block)))
                    yield io.StringIO(block, newline="\n")  # (lines end at "\n" only, as readline's do)
                else:
                    kept.append((number, block, max(map(len, block), default=0) > MAX_FIELD))
                    yield block

        # one item per line of the file: the reader's line_num is the number of the last line read
        reader = csv.reader(itertools.chain.from_iterable(blocks()), strict=True)
        while True:
            before = reader.line_num
            try:
                rows = list(itertools.islice(reader, size if self.header is not None else 1))
                broken = False
            except csv.Error:  # (that row is reported when its lines are read again)
                rows, broken = [], True
            taken = reader.line_num - before  # a reader reads no further than the row it gives
            if not taken:
                break
            while len(kept) > 1 and kept[1][0] <= before:  # a block wholly before the batch
                kept.popleft()
            header = self.header
            long = any(block[2] for block in kept)  # (the blocks kept are the batch's)
            cells = None if broken or header is None else _plain(rows, taken, before, bad, header, long)
            if cells is not None and header is not None:
                del rows  # (the batch is its columns now: no list a row while it is used)
                yield Rows(header, cells, range(before + 1, before + 1 + taken), self.header_line)
                continue
            batch = self._rows(_again(kept, before, taken), before, bad)
            if batch is not None:
                yield batch
        if self.header is None:
            raise SourceError(f"{self.path} has no header row (the first line names the columns: id,email,...)")

    def _rows(self, lines: list[str], before: int, bad: set[int]) -> Rows | None:
        """The rows of `lines` (the lines after line `before`) one at a time: each
        problem is reported on the row's first line, and a row with a line
        reported already, a blank row, and the header row are left out."""
        reader = csv.reader(lines, strict=True)
        rows: list[list[str]] = []
        starts: list[int] = []
        while True:
            start = before + reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                self.problem(start, f"malformed CSV: {exc}")
                continue
            if bad and not bad.isdisjoint(range(start, before + reader.line_num + 1)):
                continue  # a line of this row was reported already
            if not row or (not row[0].strip() and not "".join(row).strip()):  # a blank line, or only blank cells
                continue
            header = self.header
            if header is None:
                self.header, self.header_line = self._header(row, start), start
                continue
            if len(row) != len(header):
                more = "more" if len(row) > len(header) else "fewer"
                self.problem(start, f"the row has {len(row)} values, {more} than the header's {len(header)} columns")
                continue
            if max(map(len, row)) > MAX_FIELD:
                big = next(name for name, cell in zip(header, row) if len(cell) > MAX_FIELD)
                self.problem(start, f"the value of {big or 'an unnamed column'} is longer than {MAX_FIELD} characters")
                continue
            rows.append(row)
            starts.append(start)
        if not rows or self.header is None:
            return None
        return Rows(self.header, list(zip(*rows)), starts, self.header_line)

    def _header(self, row: list[str], line: int) -> list[str]:
        names = [cell.strip().lower() for cell in row]
        seen: set[str] = set()
        for name in names:
            if name and name in seen:
                raise SourceError(f"{self.path}:{line}: the header names the column {name!r} twice")
            seen.add(name)
        self.columns = names
        return names


def _plain(rows: list[list[str]], taken: int, before: int, bad: set[int],
           header: list[str], long: bool) -> list[tuple[str, ...]] | None:
    """The rows as columns when `Source._rows` would take every one of them as it
    is, on consecutive lines: each row is one of the `taken` lines after line
    `before`, none was reported already, none is blank, each has a cell for
    every column and no cell is too long (`long`: a line of them may be longer
    than MAX_FIELD).  None otherwise."""
    if taken != len(rows) or set(map(len, rows)) != {len(header)}:
        return None
    if bad and not bad.isdisjoint(range(before + 1, before + 1 + taken)):
        return None
    cells = list(zip(*rows))
    if not all(map(str.strip, cells[0])):  # a blank first cell: is the whole row blank?
        blank = itertools.compress(rows, map(operator.not_, map(str.strip, cells[0])))
        if not all(map(str.strip, map("".join, blank))):
            return None
    # a cell is no longer than its line: its cells are looked at only when a line may be long
    if long and max(map(len, itertools.chain.from_iterable(cells))) > MAX_FIELD:
        return None
    return cells


def _long(text: str) -> bool:
    """Whether a line of `text` may be longer than MAX_FIELD characters: not when
    each stretch of `step` characters from its start (the last one maybe shorter)
    has a "\n" in it, for then no run of characters without one is longer than
    2 * step - 2, less than MAX_FIELD.  A few finds a block, not a step a line."""
    step = max(1, (MAX_FIELD + 1) // 2)
    return any(text.find("\n", start, start + step) < 0 for start in range(0, len(text), step))


def _split(text: str) -> list[str]:
    """The lines of a block's text, as its StringIO gives them to csv.reader."""
    return io.StringIO(text, newline="\n").readlines()


def _again(kept: deque[tuple[int, str | list[str], bool]], before: int, taken: int) -> list[str]:
    """Lines `before + 1` to `before + taken` again, from the blocks they were read
    from (a block's text is split into its lines once, when first needed)."""
    lines: list[str] = []
    for i in range(len(kept)):
        number, block, long = kept[i]
        if number >= before + taken:
            break
        if isinstance(block, str):
            block = _split(block)
            kept[i] = (number, block, long)
        lines += block[max(before - number, 0):before + taken - number]
    return lines


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, float) and not math.isfinite(value):
        return "a number"
    return "a number" if isinstance(value, (int, float)) else type(value).__name__
