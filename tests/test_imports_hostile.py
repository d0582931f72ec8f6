"""Hostile import files: one bad line costs that line, never the file (issue 12 section 8)."""
from __future__ import annotations

import json

from tests.test_imports_cli import fsl, project, stored  # noqa: F401 - the project fixture

DEEP = 991  # deeper than json's recursion allows


def _deep() -> str:
    return "[" * DEEP + "]" * DEEP


def test_contacts_import_reports_a_line_nested_991_deep_and_keeps_the_others(project):
    path = project / "contacts.jsonl"
    path.write_text(
        json.dumps({"id": "c1", "first_name": "Ana", "tier": "A", "email": "a@x.example"}) + "\n"
        + '{"id": "c2", "first_name": ' + _deep() + "}\n"
        + json.dumps({"id": "c3", "first_name": "Cy", "tier": "B", "email": "c@x.example"}) + "\n")
    code, out, _ = fsl(project, "contacts", "import", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert [(p["line"], "deeper than" in p["reason"]) for p in doc["problems"]] == [(2, True)]
    contacts, _, _ = stored(project)
    assert sorted(contacts) == ["c1", "c3"]


def test_events_import_reports_a_line_nested_991_deep_and_keeps_the_others(project):
    path = project / "events.jsonl"
    path.write_text(
        json.dumps({"at": "2026-11-23T14:00:00Z", "type": "meeting_ended", "contact": "c1"}) + "\n"
        + '{"at": "2026-11-23T14:00:00Z", "type": "purchased", "contact": "c1", "amount": ' + _deep() + "}\n"
        + json.dumps({"at": "2026-11-23T15:00:00Z", "type": "purchased", "contact": "c1", "amount": 3}) + "\n")
    code, out, _ = fsl(project, "events", "import", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert [p["line"] for p in doc["problems"]] == [2]
    assert doc["recorded"] == 2


def test_a_csv_list_cell_nested_991_deep_is_a_bad_row(project):
    (project / "fsl.yaml").write_text((project / "fsl.yaml").read_text().replace(
        "    tier: {enum: [A, B, C]}\n", "    tier: {enum: [A, B, C]}\n    tags: list?\n"))
    path = project / "contacts.csv"
    path.write_text("id,email,first_name,tier,tags\nc1,a@x.example,Ana,A,a;b\n"
                    f"c2,b@x.example,Bo,B,{_deep()}\n")
    code, out, _ = fsl(project, "contacts", "import", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 1 and [p["line"] for p in doc["problems"]] == [3]
    assert sorted(stored(project)[0]) == ["c1"]


def test_events_outside_1970_to_2200_are_refused_with_their_line(project):
    lines = [("2026-11-23T14:00:00Z", True), ("0001-01-01T00:00:00Z", False), ("2300-06-01T00:00:00Z", False),
             ("0001-01-01T00:00:00+01:00", False), ("1969-12-31T23:59:00Z", False), ("2200-12-31T23:59:00Z", True)]
    path = project / "events.jsonl"
    path.write_text("".join(json.dumps({"at": at, "type": "meeting_ended", "contact": "c1"}) + "\n"
                            for at, _ in lines))
    code, out, _ = fsl(project, "events", "import", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert [p["line"] for p in doc["problems"]] == [i + 1 for i, (_, ok) in enumerate(lines) if not ok]
    assert all(p["reason"].startswith("at:") for p in doc["problems"])
    assert doc["recorded"] == 2
    assert [e.at.year for e in stored(project)[2]] == [2026, 2200]


def test_fsl_event_refuses_year_1(project):
    code, _, err = fsl(project, "event", "meeting_ended", "--contact", "c1", "--at", "0001-01-01T00:00:00Z")
    assert code == 2 and "outside the years 1970-2200" in err
    assert stored(project)[2] == []


def _import_on(project, path, terminal: bool) -> str:
    """`fsl contacts import` in a subprocess whose stderr is a terminal (a pty) or a pipe."""
    import os
    import subprocess
    import sys

    args = [sys.executable, "-m", "fsl", "contacts", "import", str(path), "--config", str(project / "fsl.yaml")]
    if not terminal:
        done = subprocess.run(args, capture_output=True, text=True, timeout=300)
        return done.stderr
    reader, writer = os.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=writer, stderr=writer)
    os.close(writer)
    chunks = []
    while True:
        try:
            data = os.read(reader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(reader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_progress_display_on_a_terminal_only(project):
    path = project / "contacts.csv"
    path.write_text("id,email,first_name,tier\n" + "".join(f"c{i},u{i}@x.example,N{i},A\n" for i in range(25_000)))
    shown = _import_on(project, path, terminal=True)
    assert "rows read" in shown and "imported 25000 contacts" in shown
    piped = _import_on(project, path, terminal=False)
    assert "rows read" not in piped and "imported 25000 contacts" in piped


def test_contacts_import_runs_a_few_statements_per_chunk_not_per_row(project):
    """12,000 contacts, imported then re-imported: a handful of statements per
    5,000-contact chunk (one SELECT, one executemany), never one per contact."""
    from sqlalchemy import event

    from fsl.io import read_contacts
    from fsl.io.load import load_contacts
    from fsl.runtime.runtime import Runtime

    path = project / "contacts.csv"
    path.write_text("id,email,first_name,tier\n" + "".join(f"c{i},u{i}@x.example,N{i},A\n" for i in range(12_000)))
    rt = Runtime.open(project / "fsl.yaml")
    statements = []
    event.listen(rt.db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        result = read_contacts(path, rt.config)
        first = load_contacts(rt, result)
        path.write_text(path.read_text().replace(",A\n", ",B\n"))
        again = load_contacts(rt, read_contacts(path, rt.config))
    finally:
        rt.close()
    assert (first.created, again.updated) == (12_000, 12_000)
    assert len(statements) < 200, (len(statements), sorted(set(s.split("\n")[0][:60] for s in statements)))
