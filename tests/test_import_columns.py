"""CSV contacts read a batch of cells at a time (fsl.io.source.Rows) give the same
ImportResult as the row-by-row reading: the fast path (source._plain, readers._take_clean)
only takes batches the row-by-row code would take unchanged."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fsl.io.readers as readers
import fsl.io.rows as rows
import fsl.io.source as source
from fsl.config import FieldType
from fsl.io import read_contacts
from fsl.io.coerce import Bad, column_converter, converter
from fsl.io.result import RowProblem
from fsl.store.codec import dumps_flat

from .test_imports import config  # noqa: F401 - the fixture (test_imports' schema)

LONG = "y" * (source.MAX_FIELD + 1)
CRLF = "\r\n"
TRICKY = b"\xef\xbb\xbf" + CRLF.join([
    "id,email,first_name,last_name,tier,nickname",  # 1 (after a BOM; CRLF line endings)
    "c1,a1@x.example,Ann,,A,n1",  # 2
    "c2,a2@x.example,Bo,Li,B,n2",  # 3
    'c3,a3@x.example,"Cy\r\nTwo",,C,n3',  # 4-5: a line break in a quoted cell
    "c4,a4@x.example,Di,,A,n4",  # 6
    "",  # 7 blank
    "c5,a5@x.example,Ed,,B,n5",  # 8
    "c6,a6@x.example,Fe,,C",  # 9 ragged
    f"c7,a7@x.example,Gu,,A,{LONG}",  # 10 a cell too long
    "c8,\udce9@x.example,Hi,,A,n8",  # 11 not UTF-8 (a Latin-1 é)
    "c1,a1b@x.example,Ann2,Lee,C,n1b",  # 12 c1 again, in a later batch
    ",, ,,,",  # 13 only blank cells
    'c9,a9@x.example,"Ix"x,,A,n9',  # 14 malformed
    "c10,a10@x.example,Jo,,B,n10",  # 15
    "c11,a11@x.example,Ka,,C,n11",  # 16
    "c12,a12@x.example,Lu,,A,n12",  # 17
]).encode("utf-8", "surrogateescape") + CRLF.encode()


def fast_and_slow(path: Path, config, monkeypatch: pytest.MonkeyPatch, every: int = 3, block: int = source.BLOCK):
    """read_contacts as it is, then with every batch read and taken row by row;
    also whether each batch was taken whole by the fast path."""
    monkeypatch.setattr(rows, "PROGRESS_EVERY", every)
    monkeypatch.setattr(source, "BLOCK", block)
    plain, taken = source._plain, []

    def spy(*args):
        cells = plain(*args)
        taken.append(cells is not None)
        return cells

    take = readers._take_clean

    def encoded_as_stored(*args):
        """A batch taken whole comes with its contacts' fields as the store writes them, or none."""
        batch = take(*args)
        if batch is not None and batch.texts is not None:
            assert batch.texts == [dumps_flat(c.fields) for c in batch.contacts]
        return batch

    with monkeypatch.context() as m:
        m.setattr(source, "_plain", spy)
        m.setattr(readers, "_take_clean", encoded_as_stored)
        fast = read_contacts(path, config)
    with monkeypatch.context() as m:
        m.setattr(source, "_plain", lambda *args: None)
        m.setattr(readers, "_take_clean", lambda *args: None)
        slow = read_contacts(path, config)
    return fast, slow, taken


@pytest.mark.parametrize("every", [1, 3, 4, 10_000])
@pytest.mark.parametrize("block", [64, source.BLOCK])  # 64: most lines decoded block by block, one by one
def test_tricky_csv_same_result_either_way(tmp_path, config, monkeypatch, every, block):
    path = tmp_path / "tricky.csv"
    path.write_bytes(TRICKY)
    fast, slow, taken = fast_and_slow(path, config, monkeypatch, every, block)
    assert fast == slow
    if every < 10_000:
        assert True in taken and False in taken  # both paths were taken
    assert [c.id for c in fast.good] == ["c1", "c2", "c3", "c4", "c5", "c10", "c11", "c12"]
    assert fast.lines == [2, 3, 4, 6, 8, 15, 16, 17]
    assert fast.good[0].fields == {"email": "a1b@x.example", "first_name": "Ann2", "last_name": "Lee",
                                   "tier": "C", "id": "c1"}
    assert fast.good[2].fields["first_name"] == "Cy\r\nTwo" and fast.good[3].fields["last_name"] is None
    assert fast.problems == [
        RowProblem(9, "the row has 5 values, fewer than the header's 6 columns"),
        RowProblem(10, f"the value of nickname is longer than {source.MAX_FIELD} characters"),
        RowProblem(11, "not UTF-8 text (byte 4 of the line); save the file as UTF-8"),
        RowProblem(14, "malformed CSV: ',' expected after '\"'"),
    ]
    assert fast.warnings == [
        RowProblem(1, "'nickname' is not a field of contact (schema.contact): ignored"),
        RowProblem(12, "contact c1 is also on line 2; the later values win"),
    ]


def spy_take_clean(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether readers._take_clean took each batch whole (the fast run only)."""
    whole: list[bool] = []
    take = readers._take_clean

    def spy(*args):
        batch = take(*args)
        whole.append(batch is not None)
        return batch

    monkeypatch.setattr(readers, "_take_clean", spy)
    return whole


def test_timezone_and_duplicates_across_batches(tmp_path, config, monkeypatch):
    """A batch with a timezone column is taken whole, an unknown zone flagged on
    its line; a contact repeated in a later batch sends that batch row by row,
    where it is merged, with its warning."""
    lines = ["id,first_name,tier,timezone"] + [f"c{i},F{i},A,Europe/Paris" for i in range(8)]
    lines[5] = "c4,F4,B,Mars/Olympus"
    lines[7] = "c1 ,F1b,C,"
    path = tmp_path / "zones.csv"
    path.write_text("\n".join(lines) + "\n")
    whole = spy_take_clean(monkeypatch)
    fast, slow, taken = fast_and_slow(path, config, monkeypatch, every=2)
    assert fast == slow and all(taken) and whole == [True, True, True, False]
    assert fast.lines == [2, 3, 4, 5, 6, 7, 9] and not fast.problems
    assert fast.good[1].fields == {"first_name": "F1b", "tier": "C", "timezone": None, "id": "c1"}
    assert [w.line for w in fast.warnings] == [6, 8]
    assert "'Mars/Olympus' is not an IANA time zone" in fast.warnings[0].reason
    assert fast.warnings[1].reason == "contact c1 is also on line 3; the later values win"


def test_unnamed_column_and_blank_first_cells(tmp_path, config, monkeypatch):
    """An unnamed column is left out; a row whose first cell is blank is not a
    blank row when another cell is not, and a batch stays plain for it."""
    data = "first_name,,id,tier\n" + "".join(f"{' ' if i % 2 else 'F'},x{i},c{i},A\n" for i in range(6))
    path = tmp_path / "unnamed.csv"
    path.write_text(data)
    fast, slow, taken = fast_and_slow(path, config, monkeypatch, every=3)
    assert fast == slow and taken == [True, True]
    assert [c.id for c in fast.good] == ["c0", "c2", "c4"]  # first_name is required: the blank ones are bad
    assert lines_and_reasons(fast)[0] == (3, "first_name needs a value (the field is not optional)")


def lines_and_reasons(result) -> list[tuple[int, str]]:
    return [(p.line, p.reason) for p in result.problems]


# One line of a CSV of contacts (id, first_name, tier, nickname or timezone), as a property test writes it.
_ROW = st.one_of(
    st.builds(lambda i, name, tier, last: f"c{i},{name},{tier},{last}", st.integers(0, 12),
              st.sampled_from(["Ann", " Bo ", "", '"Cy, Jr"', '"Multi\nline"', '"a""b"']),
              st.sampled_from(["A", "B", " C ", "Q", ""]),
              st.sampled_from(["n", "Europe/Paris", " UTC ", "Mars/Olympus", ""])),
    st.sampled_from(["", ",,,", " , , , ", "c1,Ann,A", "c1,Ann,A,n,extra", 'c2,"Ix"x,A,n', '"open,Ann,A,n',
                     "c3,Ann,A,\r tail", f"c4,Ann,A,{LONG}", "c5,\udce9,A,n", "\x00,Ann,A,n", " c6 ,Ann,A,n"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(last=st.sampled_from(["nickname", "timezone"]), body=st.lists(_ROW, max_size=25), newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans(),
       every=st.sampled_from([1, 2, 3, 7]), block=st.sampled_from([16, 200, source.BLOCK]), end=st.booleans())
def test_property_fast_path_changes_nothing(tmp_path, config, monkeypatch, last, body, newline, bom, every, block,
                                           end):
    text = newline.join([f"id,first_name,tier,{last}", *body]) + (newline if end else "")
    path = tmp_path / "property.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogateescape"))
    fast, slow, _ = fast_and_slow(path, config, monkeypatch, every, block)
    assert fast == slow


def test_batch_with_bad_values_taken_whole(tmp_path, config, monkeypatch):
    """A batch whose only trouble is bad values is taken at once: its bad rows
    reported (all their reasons, in column order), the others kept, and a bad
    row's id is no contact, so the same id later is no repeat."""
    data = ["id,email,first_name,tier,ltv"] + [f"c{i},e{i}@x.example,F{i},A,{i}" for i in range(8)]
    data[2] = "c1,e1@x.example,,Q,x"  # first_name empty, tier not a member, ltv not a number
    data[3] = 'c2,"a@x.example, b@x.example",F2,B,2'  # two addresses
    data[6] = "c1,e1b@x.example,F1b,C,1"  # c1 again: the first c1 was a bad row
    path = tmp_path / "values.csv"
    path.write_text("\n".join(data) + "\n")
    whole = spy_take_clean(monkeypatch)
    fast, slow, taken = fast_and_slow(path, config, monkeypatch, every=4)
    assert fast == slow and all(taken) and whole == [True, True]
    assert [c.id for c in fast.good] == ["c0", "c3", "c4", "c1", "c6", "c7"] and fast.lines == [2, 5, 6, 7, 8, 9]
    assert [p.line for p in fast.problems] == [3, 4] and not fast.warnings
    assert fast.problems[0].reason.startswith("first_name needs a value (the field is not optional); tier: 'Q'")
    assert "ltv" in fast.problems[0].reason and "names 2 addresses" in fast.problems[1].reason



def file_lines(data: bytes) -> list[str]:
    """The lines of `data` as csv.reader is given them: ended by "\n" only, the BOM
    dropped, a line that is not UTF-8 given as an empty line."""
    parts = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    raws = [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    lines = []
    for raw in raws:
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append("\n")
    return lines


def spy_again(monkeypatch: pytest.MonkeyPatch, data: bytes) -> list[int]:
    """Checks that each batch read again is given exactly its lines of `data`;
    the number of blocks each was taken from."""
    lines, again, spans = file_lines(data), source._again, []

    def spy(kept, before, taken):
        got = again(kept, before, taken)
        assert got == lines[before:before + taken]
        spans.append(len(kept))
        return got

    monkeypatch.setattr(source, "_again", spy)
    return spans


def test_batches_read_again_across_blocks(tmp_path, config, monkeypatch):
    """Small blocks (source.BLOCK) and batches of 4 rows: a batch with a bad row in
    it, read again row by row, spans blocks (decoded ones and one read line by line
    for its Latin-1 line) and is given exactly its lines; the result is the
    row-by-row one."""
    body = [f"c{i},F{i},A,n{i}" for i in range(40)]
    body[5] = 'c5,"Multi\nline",A,n5'  # 7-8: a row over two lines
    body[11] = "c11,\udce9,A,n11"  # 14: not UTF-8
    body[17] = f"c17,F17,A,{LONG}"  # 20: a cell too long
    body[23] = "c23,F23,A"  # 26: ragged
    body[29] = 'c29,"Ix"x,A,n29'  # 32: malformed
    body[33] = ""  # 36: blank
    data = "\n".join(["id,first_name,tier,nickname", *body, ""]).encode("utf-8", "surrogateescape")
    path = tmp_path / "spans.csv"
    path.write_bytes(data)
    spans = spy_again(monkeypatch, data)
    fast, slow, taken = fast_and_slow(path, config, monkeypatch, every=4, block=40)
    assert fast == slow and True in taken and False in taken and max(spans) >= 2
    assert [p.line for p in fast.problems] == [14, 20, 26, 32]
    assert len(fast.good) == 35 and fast.good[5].fields["first_name"] == "Multi\nline"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(_ROW, max_size=30), newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans(),
       every=st.sampled_from([1, 2, 3, 7]), block=st.sampled_from([1, 16, 40, 200]), end=st.booleans())
def test_property_lines_read_again_are_the_files(tmp_path, config, monkeypatch, body, newline, bom, every, block, end):
    data = ((b"\xef\xbb\xbf" if bom else b"")
            + (newline.join(["id,first_name,tier,nickname", *body]) + (newline if end else "")).encode(
                "utf-8", "surrogateescape"))
    path = tmp_path / "again.csv"
    path.write_bytes(data)
    with monkeypatch.context() as m:
        spy_again(m, data)
        fast, slow, _ = fast_and_slow(path, config, m, every, block)
    assert fast == slow


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab\r\n", max_size=60), st.integers(0, 9))
def test_a_block_with_no_long_line_is_known_by_a_few_finds(text, most):
    """`_long` may say a line is long when none is, never the other way round."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(source, "MAX_FIELD", most)
        assert source._long(text) or all(len(line) <= most for line in text.split("\n"))

_INSTANTS = st.one_of(
    st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2210, 1, 1),
                 timezones=st.sampled_from([timezone.utc, None, timezone(timedelta(hours=2))])).map(datetime.isoformat),
    st.sampled_from(["2026-01-11T10:00:00Z", "2026-01-11T10:00:00z", " 2026-01-11T10:00:00+00:00 ", "", "  ",
                     "2026-01-11", "2026-02-30T10:00:00Z", "yesterday", "2026-01-11T10:00:00-00:00",
                     "1969-12-31T23:59:59+00:00", "2201-01-01T00:00:00+00:00", "20260111T100000Z"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_INSTANTS, min_size=1, max_size=6), st.booleans())
def test_an_instant_column_is_what_its_cells_are(cells, optional):
    """The column path of a datetime field takes a column only when each cell would come out
    of the cell path unchanged, and then gives the same datetimes (in UTC, the same tzinfo)."""
    ftype = FieldType(kind="datetime", optional=optional)
    column = column_converter("contact", "last_order_at", ftype)
    assert column is not None
    got = column(list(cells))
    if got is None:
        return
    cell = converter("contact", "last_order_at", ftype, "last_order_at", True)
    want = []
    for value in cells:
        try:
            want.append(cell(value))
        except Bad:
            raise AssertionError(f"the column took {value!r}, which the cell path refuses") from None
    assert got == want and [t.tzinfo for t in got] == [t.tzinfo for t in want]


def test_a_column_of_utc_instants_is_taken_whole_and_others_are_not():
    column = column_converter("contact", "last_order_at", FieldType(kind="datetime", optional=True))
    assert column is not None
    utc = datetime(2026, 1, 11, 10, tzinfo=timezone.utc)
    assert column(["2026-01-11T10:00:00Z", " 2026-01-11T10:00:00+00:00"]) == [utc, utc]
    for odd in ("2026-01-11T12:00:00+02:00", "2026-01-11T10:00:00", "", "1969-12-31T23:59:59Z", "soon"):
        assert column(["2026-01-11T10:00:00Z", odd]) is None  # cell by cell: converted or reported there
