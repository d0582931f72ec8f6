"""`fsl contacts import` stores a file batch by batch as it reads it (readers.stream_contacts):
what it stores and reports is what reading the whole file first gives, a contact given again
on a later batch included, and a file that cannot be read still changes nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import fsl.io.rows as rows
from fsl.config import load_config
from fsl.io import read_contacts, stream_contacts

from .test_imports_cli import CONFIG, PLAYBOOK, stored
from .test_ops_support import fsl_in, write_project

# batches of 2 rows: c1 comes again on the second and third batches, c2 again with a bad
# value (line 7), c4 twice in the last batch
FILE = """\
id,email,first_name,tier
c1,a@x.example,Ana,A
c2,b@x.example,Bo,B
c3,c@x.example,Cy,C
c1,a@x.example,Ann,A
c1,a2@x.example,Ann,B
c2,b@x.example,Bob,Z
c4,d@x.example,Di,A
c4,d@x.example,Dee,A
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(rows, "PROGRESS_EVERY", 2)
    return write_project(tmp_path, CONFIG, PLAYBOOK)


def test_the_stream_gives_what_the_whole_file_gives(project):
    path = project / "contacts.csv"
    path.write_text(FILE)
    config, _ = load_config(project / "fsl.yaml")
    whole = read_contacts(path, config)
    streamed = stream_contacts(path, config)
    assert streamed.stream is not None and not streamed.good
    batches = list(streamed.stream)
    assert [b.lines for b in batches] == [[2, 3], [4, 5], [6], [8]]
    assert [b.repeats for b in batches] == [set(), {"c1"}, {"c1"}, set()]
    assert (streamed.problems, streamed.warnings) == (whole.problems, whole.warnings)
    assert [p.line for p in whole.problems] == [7] and [w.line for w in whole.warnings] == [5, 6, 9]
    merged: dict[str, dict] = {}
    for batch in batches:  # each batch merged over what the earlier ones stored, as the loader does
        for contact in batch.contacts:
            merged[contact.id] = {**merged.get(contact.id, {}), **contact.fields}
    assert merged == {c.id: c.fields for c in whole.good}
    assert merged["c1"] == {"id": "c1", "email": "a2@x.example", "first_name": "Ann", "tier": "B"}


def test_an_import_stores_and_counts_each_contact_once(project):
    path = project / "contacts.csv"
    path.write_text(FILE)
    code, out, _ = fsl_in(project, "contacts", "import", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 1 and (doc["created"], doc["updated"], doc["unchanged"]) == (4, 0, 0)
    assert [p["line"] for p in doc["problems"]] == [7]
    contacts, _, _ = stored(project)
    assert {cid: c.fields for cid, c in contacts.items()} == {
        "c1": {"id": "c1", "email": "a2@x.example", "first_name": "Ann", "tier": "B"},
        "c2": {"id": "c2", "email": "b@x.example", "first_name": "Bo", "tier": "B"},
        "c3": {"id": "c3", "email": "c@x.example", "first_name": "Cy", "tier": "C"},
        "c4": {"id": "c4", "email": "d@x.example", "first_name": "Dee", "tier": "A"}}
    # the same file again: c1's line 2 changes what is stored (lines 5 and 6 change it back), so
    # c1 counts as updated, once; the others are unchanged, once each, and nothing is lost
    code, out, _ = fsl_in(project, "contacts", "import", str(path), "--format", "json")
    doc = json.loads(out)
    assert (doc["created"], doc["updated"], doc["unchanged"]) == (0, 1, 3)
    again, _, _ = stored(project)
    assert {cid: c.fields for cid, c in again.items()} == {cid: c.fields for cid, c in contacts.items()}


def test_a_repeat_on_a_later_batch_turns_unchanged_into_updated(project):
    (project / "first.csv").write_text("id,first_name,tier\nc1,Ana,A\nc2,Bo,B\n")
    assert fsl_in(project, "contacts", "import", str(project / "first.csv"))[0] == 0
    # c1 as stored (unchanged), c2 as stored, then c1 again with a change, on the next batch
    (project / "again.csv").write_text("id,first_name,tier\nc1,Ana,A\nc2,Bo,B\nc1,Ana,C\n")
    code, out, _ = fsl_in(project, "contacts", "import", str(project / "again.csv"), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and (doc["created"], doc["updated"], doc["unchanged"]) == (0, 1, 1)
    assert "also on line 2" in doc["warnings"][0]["message"]
    contacts, _, _ = stored(project)
    assert contacts["c1"].fields["tier"] == "C" and contacts["c1"].version == 1


def test_a_file_that_cannot_be_read_changes_nothing(project):
    (project / "dup.csv").write_text("id,tier,Tier\nc1,A,B\n")
    code, _, err = fsl_in(project, "contacts", "import", str(project / "dup.csv"))
    assert code == 2 and "twice" in err
    assert not (project / "fsl.db").exists() or stored(project)[0] == {}
