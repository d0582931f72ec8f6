"""A large contacts file read by a second process while this one stores it.

Reading a CSV (decoding, checking and converting every cell) and storing it
(merging with the stored contacts, encoding, the database's writes) each
take about half of an import, and each runs on one core.  For a file of
BIG_FILE bytes or more, on a machine with a second core and `fork`, the
reading runs in a forked child that sends each batch, as plain lists, over a
pipe; this process stores batch k while the child reads batch k+1.  What
the import reports is the same either way (tests/test_import_stream.py): the
child sends its problems, warnings and format at the end, and a file that
cannot be read is known from the child's first message, before the store is
opened.  The child never touches the store, the console or the terminal.
"""
from __future__ import annotations

import multiprocessing
import os
import traceback
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterator

from fsl.engine.model import Contact

from .result import ContactBatch, ImportResult, RowProblem

BIG_FILE = 8 << 20  # bytes: below this, forking costs more than it saves
Progress = Callable[[str, int], None] | None
Batches = Callable[[ImportResult, Progress], Iterator[ContactBatch]]


def worth_a_process(size: int) -> bool:
    """Whether a file of `size` bytes is read by a child (see the module docstring)."""
    if os.environ.get("FSL_IMPORT_READER", "") == "inline":  # (tests compare both ways)
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return size >= BIG_FILE and cores > 1 and "fork" in multiprocessing.get_all_start_methods()


def read_in_child(batches: Batches, result: ImportResult, progress: Progress = None) -> None:
    """Start the child reading `batches(its result, its progress)`, wait for its first
    message (the file's format, or why it cannot be read), and set `result.stream` to
    the batches it sends.  `result`'s problems, warnings and format are the child's
    once the stream is exhausted."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(batches, send), daemon=True, name="fsl-import-reader")
    child.start()
    send.close()  # (the child's end: EOF here when the child is gone)
    kind, *first = _receive(receive, child)
    if kind == "fatal":
        result.fatal = first[0]
        _finish(receive, child)
        return
    result.format = first[0]
    result.stream = _stream(receive, child, result, progress)


def _child(batches: Batches, send: Connection) -> None:
    mine = ImportResult()
    sent_first = False
    try:
        def progress(what: str, n: int) -> None:
            send.send(("progress", what, n))

        stream = batches(mine, progress)
        first = next(stream, None)
        if mine.fatal is not None:
            send.send(("fatal", mine.fatal))
            return
        send.send(("format", mine.format))
        sent_first = True
        for batch in ([first] if first is not None else []):
            _send_batch(send, batch)
        for batch in stream:
            _send_batch(send, batch)
        send.send(("end", mine.format, [(p.line, p.reason) for p in mine.problems],
                   [(w.line, w.reason) for w in mine.warnings]))
    except BaseException:  # noqa: BLE001 - whatever it was, the parent reports it
        send.send(("error", traceback.format_exc(), sent_first))
    finally:
        send.close()


def _send_batch(send: Connection, batch: ContactBatch) -> None:
    # plain lists pickle several times faster than a list of dataclass objects
    send.send(("batch", [c.id for c in batch.contacts], [c.fields for c in batch.contacts], batch.lines,
               batch.repeats))


def _stream(receive: Connection, child: Any, result: ImportResult, progress: Progress) -> Iterator[ContactBatch]:
    try:
        while True:
            kind, *body = _receive(receive, child)
            if kind == "batch":
                ids, fields, lines, repeats = body
                yield ContactBatch(list(map(Contact, ids, fields)), lines, repeats)
            elif kind == "progress":
                if progress is not None:
                    progress(*body)
            else:  # "end"
                result.format = body[0]
                result.problems.extend(RowProblem(line, reason) for line, reason in body[1])
                result.warnings.extend(RowProblem(line, reason) for line, reason in body[2])
                return
    finally:
        _finish(receive, child)


def _receive(receive: Connection, child: Any) -> tuple:
    try:
        message = receive.recv()
    except EOFError:
        child.join()
        raise ReaderFailed(f"the process reading the file ended without a word (exit code {child.exitcode})") from None
    if message[0] == "error":
        raise ReaderFailed(f"reading the file failed:\n{message[1]}")
    return message


def _finish(receive: Connection, child: Any) -> None:
    receive.close()
    child.join(timeout=5)
    if child.is_alive():  # (the stream was dropped half-way: the child is blocked on a full pipe)
        child.kill()
        child.join()


class ReaderFailed(RuntimeError):
    """The reading process crashed: a bug, reported with its traceback (nothing read after it is stored)."""
