"""An import's chunk of contacts it expects to be new is written with one INSERT and no SELECT
(`Runtime.merge_contacts(new=True)`); a chunk with a stored contact fails that INSERT, is rolled
back and merged as usual.  Either way the store ends the same and the counts are the same, on
SQLite and PostgreSQL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

import fsl.io.load as load
from fsl.engine.model import Contact
from fsl.io.merge import merge_contact
from fsl.store.schema import contacts

from .test_imports_cli import CONFIG, PLAYBOOK
from .test_ops_support import T0, fsl_in, make_project, populate, runtime, write_project
from .test_pg_support import pg_urls  # noqa: F401 - a fixture


def _store(tmp_path: Path, url: str | None) -> Path:
    config = make_project(tmp_path)
    if url is not None:
        config.write_text(config.read_text().replace("store: sqlite:///fsl.db", f"store: {url}"))
    populate(config, 3)  # c0001..c0003
    return config


def _rows(config: Path) -> dict[str, tuple]:
    rt = runtime(config)
    try:
        with rt.db.read() as conn:
            q = sa.select(contacts.c.id, contacts.c.fields, contacts.c.version, contacts.c.email_key)
            return {row.id: (json.loads(row.fields), row.version, row.email_key) for row in conn.execute(q)}
    finally:
        rt.close()


def _chunks() -> list[list[Contact]]:
    return [
        [Contact("c0100", {"id": "c0100", "email": "Ana@Client.Example"}),
         Contact("c0101", {"id": "c0101", "email": "bo@client.example"})],  # all new
        [Contact("c0102", {"id": "c0102", "email": "cy@client.example"}),
         Contact("c0002", {"id": "c0002", "first_name": "Bea"}),  # stored: an update
         Contact("c0003", {"id": "c0003", "email": "user3@example.com"})],  # stored, as it is: unchanged
    ]


def _check_a_new_chunk_is_written_as_a_merged_one_is(tmp_path: Path, urls: tuple[str | None, str | None]) -> None:
    inserted, merged = _store(tmp_path / "a", urls[0]), _store(tmp_path / "b", urls[1])
    results = {}
    for config, new in ((inserted, True), (merged, False)):
        rt = runtime(config)
        try:
            results[new] = [[(stored is not None, changed)
                             for stored, changed in rt.merge_contacts(chunk, merge_contact, now=T0, new=new)]
                            for chunk in _chunks()]
        finally:
            rt.close()
    assert results[True] == results[False] == [[(False, True), (False, True)],
                                               [(False, True), (True, True), (True, False)]]
    after = _rows(inserted)
    assert after == _rows(merged)
    assert after["c0100"] == ({"id": "c0100", "email": "Ana@Client.Example"}, 0, "ana@client.example")
    fields, version, key = after["c0002"]
    assert fields["first_name"] == "Bea" and fields["email"] == "user2@example.com"  # merged over what was stored
    assert version == 1 and key == "user2@example.com"
    assert after["c0003"][1] == 0  # unchanged: its version did not move
    assert len(after) == 6  # nothing written twice


def test_a_new_chunk_is_written_as_a_merged_one_is_sqlite(tmp_path):
    _check_a_new_chunk_is_written_as_a_merged_one_is(tmp_path, (None, None))


def test_a_new_chunk_is_written_as_a_merged_one_is_postgresql(tmp_path, pg_urls):  # noqa: F811 - the fixture
    """PostgreSQL aborts a transaction at its first failed statement: the chunk is merged in a new one."""
    _check_a_new_chunk_is_written_as_a_merged_one_is(tmp_path, (pg_urls(), pg_urls()))


def test_the_loader_offers_chunks_as_new_while_they_are(tmp_path, monkeypatch):
    """Chunks of 2: the first two are new, the third holds a stored contact (and goes the usual
    way), and the fourth is offered as new only because the third turned out not to be."""
    project = write_project(tmp_path, CONFIG, PLAYBOOK)
    offered: list[bool] = []
    from fsl.runtime.runtime import Runtime

    real = Runtime.merge_contacts

    def spy(self, chunk, merge, now=None, *, new=False, texts=None):
        offered.append(new)
        return real(self, chunk, merge, now, new=new, texts=texts)

    monkeypatch.setattr(Runtime, "merge_contacts", spy)
    monkeypatch.setattr(load, "CONTACTS_CHUNK", 2)
    first = project / "first.csv"
    first.write_text("id,first_name,tier\nc5,Eve,A\n")
    assert fsl_in(project, "contacts", "import", str(first))[0] == 0
    path = project / "contacts.csv"
    path.write_text("id,first_name,tier\nc1,Ana,A\nc2,Bo,B\nc3,Cy,C\nc4,Di,A\nc5,Eve,B\nc6,Fay,C\nc7,Gus,A\n")
    offered.clear()
    code, out, _ = fsl_in(project, "contacts", "import", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and (doc["created"], doc["updated"], doc["unchanged"]) == (6, 1, 0)
    assert offered == [True, True, True, False]
    rt = Runtime.open(project / "fsl.yaml")
    try:
        with rt.store.snapshot() as store:
            got = {cid: (store.get_contact(cid).fields["tier"], store.get_contact(cid).version)
                   for cid in store.contact_ids()}
    finally:
        rt.close()
    assert got == {"c1": ("A", 0), "c2": ("B", 0), "c3": ("C", 0), "c4": ("A", 0), "c5": ("B", 1),
                   "c6": ("C", 0), "c7": ("A", 0)}


@pytest.mark.parametrize("chunk", [2, 5000])
def test_a_second_import_of_the_same_file_changes_nothing(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(load, "CONTACTS_CHUNK", chunk)
    project = write_project(tmp_path, CONFIG, PLAYBOOK)
    path = project / "contacts.csv"
    path.write_text("id,first_name,tier\n" + "".join(f"c{i},N{i},A\n" for i in range(7)))
    counts = []
    for _ in range(2):
        code, out, _ = fsl_in(project, "contacts", "import", str(path), "--format", "json")
        doc = json.loads(out)
        counts.append((code, doc["created"], doc["updated"], doc["unchanged"]))
    assert counts == [(0, 7, 0, 0), (0, 0, 0, 7)]
