"""Import readers: good rows kept, every bad row reported with its line, re-imports idempotent."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from fsl.config import load_config
from fsl.io import merge_contact, merge_deal, read_contacts, read_deals, read_events
from fsl.io.source import MAX_FIELD
from fsl.engine.model import Deal

UTC = timezone.utc

CONFIG = """\
version: 1
schema:
  contact:
    first_name: string
    last_name: string?
    tier: {enum: [A, B, C]}
    ltv: number
    orders: integer?
    vip: bool?
    tags: list?
    last_order_at: datetime?
    birthday: date?
  deal:
    name: string
    stage: {enum: [discovery, demo, proposal]}
    amount: number
  stakeholder:
    role: {enum: [technical, economic, champion]}
    attended: bool?
events:
  purchased: {amount: number}
  meeting_ended: {}
"""


@pytest.fixture
def config(tmp_path: Path):
    (tmp_path / "fsl.yaml").write_text(CONFIG)
    cfg, diags = load_config(tmp_path / "fsl.yaml")
    assert not diags
    return cfg


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def lines_of(problems) -> list[int]:
    return [p.line for p in problems]


# ---------------------------------------------------------------- contacts

CONTACTS_CSV = (
    "id,email,first_name,last_name,tier,ltv,orders,vip,tags,last_order_at,birthday,nickname\n"  # 1
    "c1,ana@x.example,Ana,,A,1200,3,yes,a;b,2026-11-01T10:00:00Z,1990-05-01,Annie\n"  # 2
    "c2,bo@x.example,Bo,Li,Z,10,,,,,,\n"  # 3 bad enum
    "c3,cy@x.example,Cy,,B,10,,,,,,,extra\n"  # 4 ragged
    "c4,di@x.example,Di,,C,10,,,,2026-13-45,,\n"  # 5 bad datetime
)


def test_contacts_csv_good_and_bad_rows(tmp_path, config):
    data = CONTACTS_CSV.encode() + (
        "c5,\xe9@x.example,Ed,,A,1,,,,,,\n".encode("latin-1")  # 6 not UTF-8
        + b",nobody@x.example,No,,A,1,,,,,,\n"  # 7 no id
        + b"c6,f@x.example,Fe,,A,,,,,,,\n"  # 8 required ltv empty
        + b"\n"  # 9 blank: skipped
        + b'c7,g@x.example,"' + b"x" * (MAX_FIELD + 1) + b'",,A,1,,,,,,\n'  # 10 huge
        + b'c8,h@x.example,"Hal, Jr.",,B,2.5,2.0,no,"[""x"", ""y""]",2026-11-01T10:00:00+02:00,,\n'  # 11
        + b"c9,i@x.example,Ivy,,A,1,1.5,maybe,,,,\n"  # 12 bad integer and bool
    )
    path = write(tmp_path, "contacts.csv", data)
    result = read_contacts(path, config.schema_)
    assert result.fatal is None and result.format == "csv"
    assert [c.id for c in result.good] == ["c1", "c8"] and result.lines == [2, 11]
    assert lines_of(result.problems) == [3, 4, 5, 6, 7, 8, 10, 12]
    reasons = {p.line: p.reason for p in result.problems}
    assert "'Z' is not one of A, B, C" in reasons[3]
    assert "13 values, more than the header's 12" in reasons[4]
    assert "ISO 8601" in reasons[5]
    assert "UTF-8" in reasons[6]
    assert "id is empty" in reasons[7]
    assert "ltv needs a value" in reasons[8]
    assert "longer than" in reasons[10]
    assert "orders: expected a whole number" in reasons[12] and "vip: expected true/false" in reasons[12]
    (warning,) = result.warnings
    assert warning.line == 1 and "'nickname'" in warning.reason
    c1, c8 = result.good
    assert c1.fields == {"id": "c1", "email": "ana@x.example", "first_name": "Ana", "last_name": None, "tier": "A",
                         "ltv": 1200, "orders": 3, "vip": True, "tags": ["a", "b"],
                         "last_order_at": datetime(2026, 11, 1, 10, tzinfo=UTC), "birthday": date(1990, 5, 1)}
    assert c8.fields["first_name"] == "Hal, Jr." and c8.fields["ltv"] == 2.5 and c8.fields["orders"] == 2
    assert c8.fields["vip"] is False and c8.fields["tags"] == ["x", "y"]
    assert c8.fields["last_order_at"] == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert not result.ok


def test_contacts_reimport_is_idempotent_and_partial_updates_merge(tmp_path, config):
    path = write(tmp_path, "c.csv", CONTACTS_CSV)
    first, second = read_contacts(path, config), read_contacts(path, config)
    assert first.good == second.good and first.keys == second.keys == ["c1"]
    stored, changed = merge_contact(None, first.good[0])
    assert changed
    again, changed = merge_contact(stored, second.good[0])
    assert not changed and again is stored
    regrade = read_contacts(write(tmp_path, "tier.csv", "id,tier\nc1,B\n"), config)
    updated, changed = merge_contact(stored, regrade.good[0])
    assert changed and updated.version == stored.version + 1
    assert updated.fields["tier"] == "B" and updated.fields["first_name"] == "Ana"  # untouched columns kept


def test_contacts_jsonl(tmp_path, config):
    text = "\n".join([
        json.dumps({"id": "c1", "email": "a@x.example", "first_name": "Ana", "tier": "A", "ltv": 12,
                    "last_name": None, "tags": ["q"], "vip": True}),  # 1
        "[1, 2]",  # 2
        "{not json",  # 3
        json.dumps({"id": "c2", "first_name": {"x": 1}, "ltv": "lots"}),  # 4
        "",  # 5
        json.dumps({"id": 17, "first_name": 42, "ltv": "12.5", "tier": "C", "extra": 1}),  # 6
        json.dumps({"id": "c3", "ltv": None}),  # 7 required none
        '{"id": "c4", "ltv": NaN}',  # 8
        json.dumps({"email": "x@y"}),  # 9
    ])
    result = read_contacts(write(tmp_path, "contacts.jsonl", text), config)
    assert result.format == "jsonl"
    assert [c.id for c in result.good] == ["c1", "17"]
    assert result.good[1].fields == {"id": "17", "first_name": "42", "ltv": 12.5, "tier": "C"}
    assert lines_of(result.problems) == [2, 3, 4, 7, 8, 9]
    reasons = {p.line: p.reason for p in result.problems}
    assert "expected a JSON object" in reasons[2] and "not valid JSON" in reasons[3]
    assert "first_name: expected text" in reasons[4] and "ltv: expected a number" in reasons[4]
    assert [w.line for w in result.warnings] == [6]


def test_duplicate_contact_in_one_file_merges(tmp_path, config):
    result = read_contacts(write(tmp_path, "d.csv", "id,tier,ltv\nc1,A,1\nc1,B,\n"), config)
    assert result.problems and result.problems[0].line == 3  # empty required ltv
    result = read_contacts(write(tmp_path, "d2.csv", "id,tier\nc1,A\nc1,B\n"), config)
    assert [c.fields["tier"] for c in result.good] == ["B"] and result.warnings[0].line == 3


def test_format_sniffing_and_fatal_files(tmp_path, config):
    assert read_contacts(write(tmp_path, "a.txt", '{"id": "c1"}\n'), config).format == "jsonl"
    assert read_contacts(write(tmp_path, "b.txt", "id\nc1\n"), config).good[0].id == "c1"
    bom = read_contacts(write(tmp_path, "bom.csv", b"\xef\xbb\xbfid,tier\nc1,A\n"), config)
    assert bom.good[0].fields == {"id": "c1", "tier": "A"}
    assert "no such file" in read_contacts(tmp_path / "missing.csv", config).fatal.lower()
    assert "twice" in read_contacts(write(tmp_path, "dup.csv", "id,tier,Tier\n"), config).fatal
    assert "header" in read_contacts(write(tmp_path, "empty.csv", ""), config).fatal
    assert "UTF-16" in read_contacts(write(tmp_path, "u16.csv", "id\nc1\n".encode("utf-16")), config).fatal
    assert read_contacts(write(tmp_path, "empty.jsonl", ""), config).ok


def test_unterminated_quote_and_long_json_line(tmp_path, config):
    result = read_contacts(write(tmp_path, "q.csv", 'id,tier\nc1,A\nc2,"B\n'), config)
    assert [c.id for c in result.good] == ["c1"] and lines_of(result.problems) == [3]
    big = json.dumps({"id": "c2", "first_name": "x" * (1 << 20)})
    result = read_contacts(write(tmp_path, "big.jsonl", big + "\n" + '{"id": "c3"}\n'), config)
    assert [c.id for c in result.good] == ["c3"] and lines_of(result.problems) == [1]


@pytest.mark.parametrize("block", [1, 16, 64, 100])
def test_csv_read_a_block_at_a_time_keeps_every_line_number_and_problem(tmp_path, config, monkeypatch, block):
    """Blocks of CSV end anywhere among these lines (source.BLOCK, shrunk here with
    MAX_LINE): a quoted value over two lines, a line that is not UTF-8, one too
    long, CRLF and no final newline all read as they do line by line."""
    import fsl.io.source as source

    monkeypatch.setattr(source, "MAX_LINE", 100)
    monkeypatch.setattr(source, "BLOCK", block)
    data = (b"\xef\xbb\xbfid,tier,first_name\n"  # 1
            b"c1,A,Ann\n"  # 2
            b'c2,B,"two\n'  # 3
            b'lines"\n'  # 4
            b"c3,C,\xe9\n"  # 5 not UTF-8
            b"c4,A," + b"x" * 150 + b"\n"  # 6 too long
            b"c5,B,Bo\r\n"  # 7
            b"c6,Z,Bad\n"  # 8 not a tier
            b"c7,A," + b"y" * 90 + b"\n"  # 9
            b"c8,C,Last")  # 10
    result = read_contacts(write(tmp_path, "blocks.csv", data), config)
    assert [c.id for c in result.good] == ["c1", "c2", "c5", "c7", "c8"]
    assert result.lines == [2, 3, 7, 9, 10]
    assert lines_of(result.problems) == [5, 6, 8]
    assert "UTF-8" in result.problems[0].reason and "longer than 100 bytes" in result.problems[1].reason
    assert result.good[1].fields["first_name"] == "two\nlines" and result.good[2].fields["first_name"] == "Bo"


def test_csv_columns_report_each_bad_cell_of_a_row_in_column_order(tmp_path, config):
    """Cells are converted a column at a time: a column with one bad or empty cell
    is read cell by cell, and a row's reasons still come in the order of its columns."""
    rows = [f"c{i},e{i}@x.example,F{i},{'' if i % 2 else 'L'},A,{i}" for i in range(30)]
    rows[7] = 'c7,"a@x.example, b@x.example",F7,,Q,1'  # email names two addresses, tier not a member
    rows[9] = "c9,e9@x.example,,,B,x"  # first_name empty (required), ltv not a number
    result = read_contacts(write(tmp_path, "cols.csv", "id,email,first_name,last_name,tier,ltv\n"
                                 + "\n".join(rows) + "\n"), config)
    assert lines_of(result.problems) == [9, 11]
    first, second = (p.reason for p in result.problems)
    assert first.startswith("email: 'a@x.example, b@x.example' names 2 addresses")
    assert first.index("email:") < first.index("tier: 'Q' is not one of")
    assert second.startswith("first_name needs a value (the field is not optional); ltv: ")
    assert len(result.good) == 28 and result.good[1].fields["last_name"] is None
    assert result.good[0].fields == {"id": "c0", "email": "e0@x.example", "first_name": "F0", "last_name": "L",
                                     "tier": "A", "ltv": 0}


def test_csv_batches_taken_whole_or_row_by_row_agree(tmp_path, config, monkeypatch):
    """Rows come in batches (rows.PROGRESS_EVERY, 2 here): a clean batch is taken at
    once, one with a contact seen in an earlier batch row by row, with the same result."""
    import fsl.io.rows as rows

    monkeypatch.setattr(rows, "PROGRESS_EVERY", 2)
    data = ("id,tier,first_name,nickname\n"  # 1
            "c1,A,Ann,x\n" " c2 ,B,Bo,y\n"  # 2, 3: clean
            "c3,C,Cy,z\n" "c1,B,,w\n"  # 4, 5: c1 again (first_name empty: a bad row, reported)
            "c4,A,Di,v\n" "c1,C,Ann2,u\n")  # 6, 7: c1 again, merged
    result = read_contacts(write(tmp_path, "batches.csv", data), config)
    assert [c.id for c in result.good] == ["c1", "c2", "c3", "c4"] and result.lines == [2, 3, 4, 6]
    assert result.good[0].fields == {"tier": "C", "first_name": "Ann2", "id": "c1"}
    assert lines_of(result.problems) == [5]
    assert [(w.line, "'nickname'" in w.reason or "also on line 2" in w.reason) for w in result.warnings] == \
        [(1, True), (7, True)]


# ---------------------------------------------------------------- deals

def test_deals_csv_rows_per_stakeholder(tmp_path, config):
    text = (
        "id,name,stage,amount,contact,role,attended,colour\n"  # 1
        "d1,Northwind,demo,60000,c1,economic,yes,red\n"  # 2
        "d1,,,,c2,technical,\n"  # 3 ragged
        "d1,,,,c2,technical,no,\n"  # 4
        "d2,Globex,closed,5,,,,\n"  # 5 bad stage
        "d3,Initech,proposal,7,,role_x,,\n"  # 6 stakeholder fields, no contact
        "d4,Umbrella,demo,9,c9,boss,,\n"  # 7 bad role
        "d5,Hooli,demo,1,,,,\n"  # 8 no stakeholders
    )
    result = read_deals(write(tmp_path, "deals.csv", text), config)
    assert [d.id for d in result.good] == ["d1", "d5"]
    d1 = result.good[0]
    assert d1.fields == {"id": "d1", "name": "Northwind", "stage": "demo", "amount": 60000}
    assert d1.stakeholders == {"c1": {"role": "economic", "attended": True},
                               "c2": {"role": "technical", "attended": False}}
    assert lines_of(result.problems) == [3, 5, 6, 7]
    assert "contact column is empty" in {p.line: p.reason for p in result.problems}[6]
    assert "stakeholder c9" in {p.line: p.reason for p in result.problems}[7]
    assert result.replace_stakeholders == {"d1", "d5"}
    assert [w.line for w in result.warnings] == [1]


def test_deals_jsonl_and_merge(tmp_path, config):
    lines = [
        {"id": "d1", "name": "Northwind", "stage": "demo", "amount": 60000,
         "stakeholders": [{"contact": "c1", "role": "economic"}, {"contact": "c2", "role": "champion"}]},
        {"id": "d2", "name": "Globex", "stage": "demo", "amount": 1, "stakeholders": [{"role": "economic"}]},
        {"id": "d3", "name": "Initech", "stage": "demo", "amount": 1, "stakeholders": "c1"},
        {"id": "d4", "stage": "proposal"},
    ]
    path = write(tmp_path, "deals.jsonl", "\n".join(json.dumps(x) for x in lines))
    result = read_deals(path, config)
    assert [d.id for d in result.good] == ["d1", "d4"] and lines_of(result.problems) == [2, 3]
    assert result.replace_stakeholders == {"d1"}
    assert read_deals(path, config).good == result.good
    stored = Deal("d4", {"id": "d4", "name": "Hooli", "stage": "demo"}, {"c3": {"role": "economic"}})
    merged, changed = merge_deal(stored, result.good[1], "d4" in result.replace_stakeholders)
    assert changed and merged.stakeholders == stored.stakeholders and merged.fields["stage"] == "proposal"
    merged, changed = merge_deal(stored, Deal("d4", {"id": "d4"}, {"c1": {"role": "champion"}}), True)
    assert merged.stakeholders == {"c1": {"role": "champion"}}
    _, changed = merge_deal(merged, Deal("d4", {"id": "d4"}, {"c1": {"role": "champion"}}), True)
    assert not changed


def test_deals_csv_stakeholders_json_column(tmp_path, config):
    text = 'id,name,stage,amount,stakeholders\nd1,N,demo,1,"[{""contact"": ""c1"", ""role"": ""economic""}]"\n'
    (deal,) = read_deals(write(tmp_path, "d.csv", text), config).good
    assert deal.stakeholders == {"c1": {"role": "economic"}}


# ---------------------------------------------------------------- events

def test_events_jsonl(tmp_path, config):
    lines = [
        {"at": "2026-11-23T14:00:00Z", "type": "meeting_ended", "contact": "c1", "deal": "d1"},  # 1
        {"at": "2026-11-27T16:00:00Z", "type": "replied", "contact": "c1", "step": "checkin", "kind": "human",
         "return_date": "2026-12-01"},  # 2
        {"at": "2026-11-27T16:00:00Z", "type": "replied", "contact": "c1", "kind": "robot"},  # 3 bad enum
        {"type": "opened", "contact": "c1"},  # 4 no at
        {"at": "yesterday", "type": "opened", "contact": "c1"},  # 5 bad at
        {"at": "2026-11-23T14:00:00Z", "type": "exploded", "contact": "c1"},  # 6 unknown type
        {"at": "2026-11-23T14:00:00Z", "type": "opened"},  # 7 no contact, no deal
        {"at": "2026-11-24T09:00:00", "type": "purchased", "contact": "ghost", "amount": "99.5", "via": "web"},  # 8
        {"at": "2026-11-25T09:00:00Z", "type": "update", "deal": "d1", "set": {"stage": "proposal"}},  # 9
        {"at": "2026-11-25T09:00:00Z", "type": "update", "contact": "c1", "set": {"tier": "Q"}},  # 10
        {"at": "2026-11-23T14:00:00Z", "type": "meeting_ended", "contact": "c1", "deal": "d1"},  # 11 duplicate
        {"at": "2026-11-26T10:00:00Z", "type": "clicked", "contact": "c1", "step": "recap", "link": "case", "id": "e1"},
        {"at": "2026-11-26T10:00:00Z", "type": "clicked", "contact": "c1", "step": "recap", "link": "case", "id": "e2"},
    ]
    path = write(tmp_path, "events.jsonl", "\n".join(json.dumps(x) for x in lines))
    result = read_events(path, config)
    assert result.lines == [1, 2, 8, 9, 12, 13]
    assert lines_of(result.problems) == [3, 4, 5, 6, 7, 10]
    reasons = {p.line: p.reason for p in result.problems}
    assert "'robot' is not one of" in reasons[3] and "missing at" in reasons[4]
    assert "unknown event type exploded" in reasons[6] and "neither a contact nor a deal" in reasons[7]
    assert "set.tier" in reasons[10]
    assert [(w.line, "purchased.via" in w.reason or "same event" in w.reason) for w in result.warnings] == \
        [(8, True), (11, True)]
    meeting, reply, purchase, update, click1, click2 = result.good
    assert meeting.at == datetime(2026, 11, 23, 14, tzinfo=UTC) and meeting.deal == "d1" and meeting.line == 1
    assert reply.step == "checkin" and reply.fields == {"kind": "human", "return_date": date(2026, 12, 1)}
    assert purchase.contact == "ghost" and purchase.fields == {"amount": 99.5}  # unknown contacts are kept
    assert purchase.at == datetime(2026, 11, 24, 9, tzinfo=UTC)  # naive means UTC
    assert update.fields == {"set": {"stage": "proposal"}} and update.contact is None
    assert click1.fields == {"link": "case"} and result.keys[4] == "id:e1" and result.keys[5] == "id:e2"
    again = read_events(path, config)
    assert again.keys == result.keys and again.good == result.good


def test_events_csv(tmp_path, config):
    text = ("at,type,contact,step,kind,amount,set\n"
            "2026-11-23T14:00:00Z,replied,c1,recap,human,,\n"
            "2026-11-23T15:00:00Z,purchased,c1,,,12,\n"
            '2026-11-23T16:00:00Z,update,c1,,,,"{""tier"": ""B""}"\n')
    result = read_events(write(tmp_path, "e.csv", text), config)
    assert not result.problems, result.problems
    assert [e.fields for e in result.good] == [{"kind": "human"}, {"amount": 12}, {"set": {"tier": "B"}}]
