"""Imports: contacts, deals and events from CSV and JSON Lines files (CLI.md "Running").

`readers.read_contacts`, `read_deals` and `read_events` turn a file into
model objects and a list of problems with line numbers; they never raise for
bad input and never touch the store.  `stream_contacts` gives a contacts file
batch by batch as it is stored (`fsl contacts import`: a million rows are
never all in memory).  `merge` says how an imported record
updates the stored one.
"""
from __future__ import annotations

from .keys import event_key
from .merge import merge_contact, merge_deal
from .readers import event_from, read_contacts, read_deals, read_events, stream_contacts
from .result import ContactBatch, ImportResult, RowProblem

__all__ = ["ContactBatch", "ImportResult", "RowProblem", "event_from", "event_key", "merge_contact", "merge_deal",
           "read_contacts", "read_deals", "read_events", "stream_contacts"]
