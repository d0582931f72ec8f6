"""What an import produced: the good objects, and every problem with its line."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass(frozen=True)
class RowProblem:
    line: int  # 1-based; 0 when it concerns the whole file
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


@dataclass
class ImportResult:
    """`good[i]` came from line `lines[i]` and is identified by `keys[i]` (a
    contact or deal id; for events, see fsl.io.keys.event_key).  `fatal` is
    set when the file could not be read at all: then nothing else is.

    Contacts and deals hold only the fields the file gives (a CSV column
    left out is not a change), so an import updates what it names.  A deal's
    stakeholders are given completely for the deals in `replace_stakeholders`
    (the file has a stakeholder column or key); other deals keep theirs.
    """

    good: list[Any] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    fatal: str | None = None
    format: str = "csv"
    replace_stakeholders: set[str] = field(default_factory=set)
    # Contacts read as they are stored (`fsl contacts import`): the batches not read yet,
    # in place of `good` (readers.stream_contacts).
    stream: Iterator[ContactBatch] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.fatal is None and not self.problems

    def add(self, obj: Any, line: int, key: str) -> None:
        self.good.append(obj)
        self.lines.append(line)
        self.keys.append(key)

    def warn(self, line: int, reason: str) -> None:
        self.warnings.append(RowProblem(line, reason))

    def sort_problems(self) -> None:
        self.problems.sort(key=lambda p: p.line)
        self.warnings.sort(key=lambda p: p.line)


@dataclass
class ContactBatch:
    """Contacts read from a file in one go, `contacts[i]` from line `lines[i]`.  An id
    in `repeats` came on an earlier batch's line too: its fields here are this line's,
    to be merged over what that earlier line stored (the later values win)."""

    contacts: list[Any]
    lines: list[int]
    repeats: set[str] = field(default_factory=set)
    # texts[i]: contacts[i].fields as the store's codec writes them, when the reader had
    # them at hand (fsl.store.codec.dumps_columns): a new contact is written as it is
    texts: list[str] | None = None
