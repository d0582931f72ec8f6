"""contacts.email_key: the inbox finds a sender's contact by an indexed lookup that every write of a
contact keeps in step (imports, one contact, the engine's `update`), on SQLite and PostgreSQL."""
from __future__ import annotations

import string
from datetime import timedelta
from email.utils import parseaddr

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from fsl.engine.model import Contact, Event
from fsl.inbox.matching import Matcher
from fsl.store.email_keys import contacts_of, email_key, keys_of
from fsl.store.migrations import v14, v16
from fsl.store.schema import contacts

from .test_ops_support import T0, make_project, populate, runtime
from .test_pg_support import pg_url  # noqa: F401 - a fixture


def test_email_key_is_the_bare_address_in_lower_case():
    assert email_key("Ana Ruiz <ANA@Client.Example>") == "ana@client.example"
    assert email_key("  bob@x.example ") == "bob@x.example"
    assert email_key("no address") is None and email_key(None) is None and email_key(3) is None


def _project(tmp_path, url: str | None):
    config = make_project(tmp_path)
    if url is not None:
        config.write_text(config.read_text().replace("store: sqlite:///fsl.db", f"store: {url}"))
    populate(config, 3)
    return config


def _check_every_write_keeps_the_lookup(config) -> None:
    rt = runtime(config)
    try:
        rt.put_contacts([Contact("c0002", {"id": "c0002", "email": "Bea <BEA@Client.Example>"}),
                         Contact("c0009", {"id": "c0009", "email": "bea@client.example"}),
                         Contact("c0003", {"id": "c0003", "phone": "+49 30 1"})], now=T0)
        # a batch of plain addresses only (an import's chunk) is keyed a batch at once
        rt.put_contacts([Contact("c0004", {"id": "c0004", "email": "Dee@Client.Example"}),
                         Contact("c0005", {"id": "c0005", "email": "eve@client.example"})], now=T0)
        rt.ingest_now([Event(T0 + timedelta(minutes=1), "update", "c0001", fields={"set": {"email": "New@Client.example"}})],
                      T0 + timedelta(minutes=1))
        with rt.db.read() as conn:
            assert contacts_of(conn, "bea@client.example") == ["c0002", "c0009"]
            assert contacts_of(conn, "NEW@client.example") == ["c0001"]
            assert contacts_of(conn, "user1@example.com") == []  # the address it had before the update
            assert contacts_of(conn, "user3@example.com") == []  # c0003 has no address any more
            assert Matcher(conn).contacts_of("bea@client.example") == ["c0002", "c0009"]
            assert contacts_of(conn, "DEE@client.example") == ["c0004"] and contacts_of(conn, "eve@client.example") == ["c0005"]
            keyed = sa.select(sa.func.count()).select_from(contacts).where(contacts.c.email_key.is_not(None))
            assert conn.execute(keyed).scalar() == 5
    finally:
        rt.close()


_ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
_LABEL = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,4}[A-Za-z0-9])?", fullmatch=True)
plain_addresses = st.builds(
    lambda local, labels: ".".join(local) + "@" + ".".join(labels),
    st.lists(st.text(_ATEXT, min_size=1, max_size=5), min_size=1, max_size=3),
    st.lists(_LABEL, min_size=2, max_size=3))


@settings(max_examples=500, deadline=None)
@given(plain_addresses)
def test_a_plain_address_is_keyed_as_the_header_parser_would(address):
    """email_key takes `name@host.example` as it is (an import writes a million): what parseaddr gives."""
    assert email_key(address) == parseaddr(address)[1].lower() == address.lower()


def test_every_write_of_a_contact_keeps_the_lookup_sqlite(tmp_path):
    _check_every_write_keeps_the_lookup(_project(tmp_path, None))


def test_every_write_of_a_contact_keeps_the_lookup_postgresql(tmp_path, pg_url):  # noqa: F811 - the fixture
    _check_every_write_keeps_the_lookup(_project(tmp_path, pg_url))


def test_the_migrations_fill_the_lookup_from_the_contacts_already_there(tmp_path):
    """v14 keyed the stored contacts in a table of its own; v16 moves those keys into `contacts`."""
    config = _project(tmp_path, None)
    rt = runtime(config)
    try:
        with rt.db.write() as conn:
            conn.execute(sa.text("DROP INDEX ix_contacts_email_key"))
            conn.execute(sa.text("ALTER TABLE contacts DROP COLUMN email_key"))
            v14.apply(conn)
            v16.apply(conn)
        with rt.db.read() as conn:
            assert [contacts_of(conn, f"USER{i}@example.com") for i in (1, 2, 3)] == [["c0001"], ["c0002"], ["c0003"]]
            assert "contact_emails" not in sa.inspect(conn).get_table_names()
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN SELECT id FROM contacts WHERE email_key = 'a@b.example'")
            assert "ix_contacts_email_key" in " ".join(str(row) for row in plan)  # the partial index serves it
    finally:
        rt.close()


def test_a_batch_is_keyed_as_each_contact_alone():
    batch = [{"email": "Ana@X.example"}, {"email": "Bea <BEA@x.example>"}, {"phone": "1"}, {"email": 3}]
    assert keys_of(batch) == [email_key(f.get("email")) for f in batch] == ["ana@x.example", "bea@x.example", None, None]
    plain = [{"email": "Ana@X.example"}, {"email": "bo@y.example"}]
    assert keys_of(plain) == ["ana@x.example", "bo@y.example"] and keys_of([]) == []


@pytest.mark.parametrize("field", ["Ana <ana@client.example>", "ANA@client.example"])
def test_the_inbox_matches_a_sender_whatever_form_the_field_has(tmp_path, field):
    config = _project(tmp_path, None)
    rt = runtime(config)
    try:
        rt.put_contacts([Contact("c0007", {"id": "c0007", "email": field})], now=T0)
        with rt.db.read() as conn:
            assert Matcher(conn).contacts_of("ana@client.example") == ["c0007"]
    finally:
        rt.close()
