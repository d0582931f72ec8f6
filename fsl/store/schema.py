"""The tables of the production store (SQLAlchemy Core; SQLite and PostgreSQL).

This module describes the *current* schema (SCHEMA_VERSION in
migrations/).  A fresh database is created from it directly; an older one
is brought here by the ordered migrations.  Conventions:

* Instants that SQL compares or sorts are BIGINT seconds since the epoch, UTC
  (codec.py); JSON is TEXT written by codec.dumps.
* The hot paths are served by partial indexes that hold only live rows, so
  their size follows the work outstanding, not the history: due wake-ups
  (`wake_at IS NOT NULL`), pending events, the outbox (`pending`,
  `sending`).  This is what keeps an idle tick flat as enrollments pile up.
* Enrollments keep what SQL must filter or order by in columns (status,
  wake_at and the same-instant order: rank = -priority, playbook, contact,
  id) and the engine's remaining state as one JSON document.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Column, Index, Integer, MetaData, Sequence, String, Table, Text,
                        UniqueConstraint, text)

metadata = MetaData()

# SQLite auto-increments only an INTEGER PRIMARY KEY (the rowid).
ID = BigInteger().with_variant(Integer(), "sqlite")
Instant = BigInteger  # seconds since the epoch, UTC
Name = String(200)


def _partial(where: str) -> dict:
    return {"sqlite_where": text(where), "postgresql_where": text(where)}


# A Message-ID of the form sent before schema v15 (fsl.delivery.message.message_id): `<`,
# 32 hex digits, then `.fsl@` where a later one has its enrollment.  The partial index
# ix_actions_legacy_message_id is defined by, and used only by a query repeating, this text.
LEGACY_MESSAGE_ID = "substr(message_id, 34, 5) = '.fsl@'"

meta = Table(
    "fsl_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

plans = Table(
    "plans", metadata,
    Column("hash", String(80), primary_key=True),
    Column("playbook", Name, nullable=False, index=True),
    Column("plan", Text, nullable=False),  # plan_json of this one plan
    Column("source_file", Text),
    Column("source_text", Text),  # the .fsl file at deploy time, for `fsl explain`
    Column("deployed_at", Instant, nullable=False),
)

playbooks = Table(  # the deployed version of each playbook
    "playbooks", metadata,
    Column("name", Name, primary_key=True),
    Column("hash", String(80), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("deployed_at", Instant, nullable=False),
)

contacts = Table(
    "contacts", metadata,
    Column("id", Name, primary_key=True),
    Column("fields", Text, nullable=False),
    Column("version", Integer, nullable=False, default=0),
    Column("updated_at", Instant),
    Column("email_key", String(320)),  # the address in `fields`, normalised, for the inbox's lookup (email_keys.py); v16
    Index("ix_contacts_email_key", "email_key", **_partial("email_key IS NOT NULL")),
)

deals = Table(
    "deals", metadata,
    Column("id", Name, primary_key=True),
    Column("fields", Text, nullable=False),
    Column("updated_at", Instant),
)

stakeholders = Table(
    "stakeholders", metadata,
    Column("deal", Name, primary_key=True),
    Column("contact", Name, primary_key=True),
    Column("fields", Text, nullable=False),
    Index("ix_stakeholders_contact", "contact", "deal"),
)

events = Table(
    "events", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),  # arrival order
    Column("at", Instant, nullable=False),
    Column("type", Name, nullable=False),
    Column("contact", Name),
    Column("deal", Name),
    Column("step", Name),
    Column("fields", Text, nullable=False),
    Column("status", String(10), nullable=False),  # pending | done
    Column("flag", String(20)),  # unknown_contact | unknown_message | unknown_deal | error: kept, reported
    Column("enrollment", BigInteger),  # the enrollment whose message it concerns
    Column("received_at", Instant),
    Column("source", String(40)),  # tracking | sendgrid | mailgun | postmark | ses | events | inbox (SIGNALS.md 5)
    Column("evidence", Text),  # JSON list of short strings: what decided the classification
    Column("dedup", String(300)),  # a provider's event id, an inbox Message-ID: recorded once
    Index("ix_events_pending", "at", "id", **_partial("status = 'pending'")),
    Index("ix_events_contact", "contact", "type", "at"),
    Index("ix_events_flag", "flag", **_partial("flag IS NOT NULL")),
    Index("ux_events_dedup", "dedup", unique=True),
)

# Enrollment ids on PostgreSQL, where many workers enroll at once (schema v3;
# SQLite has one writer at a time and keeps max + 1: no sequence there).
enrollment_ids = Sequence("fsl_enrollment_ids", metadata=metadata)

enrollments = Table(
    "enrollments", metadata,
    Column("id", ID, primary_key=True, autoincrement=False),
    Column("playbook", Name, nullable=False),
    Column("plan_hash", String(80), nullable=False),
    Column("contact", Name, nullable=False),
    Column("deal", Name),
    Column("status", String(10), nullable=False),  # active | waiting | paused | ended
    Column("rank", Integer, nullable=False),  # -priority: same-instant order
    Column("wake_at", Instant),  # NULL when nothing is scheduled (ended)
    Column("started_at", Instant, nullable=False),
    Column("ended_at", Instant),
    Column("outcome", Name),
    Column("reason", Text),
    Column("state", Text, nullable=False),  # the engine's state of the enrollment (rows.py)
    Index("ix_enrollments_wake", "wake_at", "rank", "playbook", "contact", "id",
          **_partial("wake_at IS NOT NULL")),
    Index("ix_enrollments_contact", "contact", "playbook"),
    Index("ix_enrollments_deal", "deal", "playbook", **_partial("deal IS NOT NULL")),
    Index("ix_enrollments_playbook", "playbook", "status", "outcome"),
    Index("ix_enrollments_open_plan", "plan_hash", **_partial("status <> 'ended'")),
)

checks = Table(  # `enroll when` schedule: when each candidate is looked at next
    "checks", metadata,
    Column("playbook", Name, primary_key=True),
    Column("contact", Name, primary_key=True),
    Column("deal", Name, primary_key=True),  # '' when the candidate is a contact alone
    Column("at", Instant, nullable=False),
    Column("rank", Integer, nullable=False),
    Index("ix_checks_due", "at", "rank", "playbook", "contact", "deal"),
)

actions = Table(  # every action record; sends, tasks and notifications are the outbox
    "actions", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False),  # enrollment:step:iteration:action
    Column("enrollment", BigInteger, nullable=False),
    Column("contact", Name, nullable=False),
    Column("deal", Name),
    Column("playbook", Name, nullable=False),
    Column("step", Name, nullable=False),
    Column("kind", String(10), nullable=False),  # send | task | notify | set
    Column("channel", Name),
    Column("template", Name),
    Column("at", Instant, nullable=False),
    Column("line", Integer, nullable=False, default=0),
    Column("payload", Text, nullable=False),  # offer, to, text, due, data, vars
    # pending | sending | delivered | failed | cancelled; `done` for `set`
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Instant),
    Column("last_error", Text),
    Column("claimed_by", String(200)),  # the tick handing it to a channel
    Column("lease_until", Instant),  # wall clock: after it, a stuck `sending` is taken back
    Column("delivered_at", Instant),
    Column("message_id", String(300)),
    # the receiver's reference at hand-over (SMTP's final reply to DATA, `250 Ok: queued as
    # 4BXY...`, kept whole: its shape differs by server); schema v6
    Column("provider_id", String(300)),
    Column("bounce", String(10)),  # hard | soft: the server refused the address (fsl.delivery.verdict); v6
    UniqueConstraint("key", name="uq_actions_key"),
    Index("ix_actions_outbox", "next_attempt_at", "id", **_partial("status = 'pending'")),
    Index("ix_actions_sending", "lease_until", **_partial("status = 'sending'")),
    Index("ix_actions_failed", "playbook", **_partial("status = 'failed'")),
    Index("ix_actions_contact", "contact", "at"),
    Index("ix_actions_deal", "deal", "at", **_partial("deal IS NOT NULL")),
    Index("ix_actions_enrollment", "enrollment"),
    # only the Message-IDs of the form sent before v15: later ones name their enrollment and are
    # found through it (fsl.store.sent), so no outbox write enters this index
    Index("ix_actions_legacy_message_id", "message_id", **_partial(LEGACY_MESSAGE_ID)),
)

tasks = Table(  # the to-do list: calls, LinkedIn touches, escalations, notifications
    "tasks", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("action_key", String(400), nullable=False),
    Column("enrollment", BigInteger, nullable=False),
    Column("contact", Name, nullable=False),
    Column("deal", Name),
    Column("playbook", Name, nullable=False),
    Column("step", Name, nullable=False),
    Column("kind", Name, nullable=False),  # call, linkedin, escalation, notify, ...
    Column("assignee", Text),
    Column("subject", Text),
    Column("text", Text, nullable=False),
    Column("due_at", Instant, nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("status", String(10), nullable=False),  # open | done
    Column("done_at", Instant),
    UniqueConstraint("action_key", name="uq_tasks_action"),
    Index("ix_tasks_open", "due_at", **_partial("status = 'open'")),
    Index("ix_tasks_assignee", "assignee", "due_at", **_partial("status = 'open'")),  # the console's /tasks; v13
)

journal = Table(
    "journal", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("enrollment", BigInteger),
    Column("contact", Name),
    Column("playbook", Name),
    Column("step", Name),
    Column("at", Instant, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("line", Integer, nullable=False, default=0),
    Index("ix_journal_contact", "contact"),
    Index("ix_journal_enrollment", "enrollment"),
)

render_cache = Table(  # fsl.llm.cache.RenderCache: first writer wins
    "render_cache", metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", Instant, nullable=False),
)

ticks = Table(  # one row per tick, for `fsl status`
    "ticks", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("started_at", Instant, nullable=False),  # wall clock
    Column("finished_at", Instant),
    Column("now", Instant, nullable=False),  # the instant ticked to
    Column("report", Text),  # JSON counts
)

reviews = Table(  # renderer: llm sends the guards or an outage held (fsl.llm.review); schema v2
    "reviews", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("action_id", BigInteger, nullable=False),  # actions.id: the send this is about
    Column("action_key", String(400), nullable=False),
    Column("enrollment", BigInteger, nullable=False),
    Column("contact", Name, nullable=False),
    Column("deal", Name),
    Column("playbook", Name, nullable=False),
    Column("step", Name, nullable=False),
    Column("template", Name),
    # held | approved | rejected | sent  (approved = waiting in the outbox with the text below)
    Column("status", String(10), nullable=False),
    Column("cause", String(20), nullable=False),  # guards | model_unavailable
    Column("reasons", Text, nullable=False),  # JSON list of strings
    Column("subject", Text),  # the last draft (held) or the approved text
    Column("body", Text),
    Column("verdicts", Text),  # JSON: the render's journal record (fsl.llm.render.RenderOutcome.to_journal)
    Column("asks", Integer, nullable=False, default=0),  # model outages in a row (backoff)
    Column("retry_at", Instant),  # model_unavailable: when the outbox asks again; NULL = wait for a person
    Column("created_at", Instant, nullable=False),
    Column("updated_at", Instant, nullable=False),
    Column("decided_at", Instant),
    Column("decided_by", String(200)),
    Column("note", Text),
    UniqueConstraint("action_key", name="uq_reviews_action"),  # one review per send, ever
    Index("ix_reviews_open", "created_at", **_partial("status = 'held'")),
)

suppressions = Table(  # addresses that bounced hard: no send goes to them again (fsl.engine.suppression); schema v5
    "suppressions", metadata,
    Column("address", String(320), primary_key=True),  # normalized: trimmed, lower case
    Column("at", Instant, nullable=False),  # the bounce's instant
    Column("contact", Name),  # whose message bounced
    Column("reason", Text, nullable=False),  # the bounce event, as `fsl explain` shows it
)

tracked_messages = Table(  # emails rewritten for tracking (fsl.signals.handover); schema v9
    "tracked_messages", metadata,
    Column("key", String(400), primary_key=True),  # the outbox key
    Column("links", Text, nullable=False),  # JSON [[tag or null, URL], ...]: what a click redirects to
    Column("trap", Integer, nullable=False),  # the link index of the hidden trap link
    Column("handed_at_ms", BigInteger, nullable=False),  # wall clock, ms: the last hand-over to the channel
)

tracking_hits = Table(  # every request on a tracked message's URLs (fsl.signals.hits); schema v9
    "tracking_hits", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False),
    Column("kind", String(10), nullable=False),  # click | open | trap
    Column("link", Integer),
    Column("at_ms", BigInteger, nullable=False),  # wall clock, ms
    Column("machine", Integer, nullable=False),  # 0 | 1: the verdict given
    Index("ix_tracking_hits_key", "key", "at_ms"),
)

inbox_state = Table(  # the last UID read per mailbox and UIDVALIDITY (SIGNALS.md 3); schema v10
    "inbox_state", metadata,
    Column("mailbox", String(400), primary_key=True),  # user@host/folder
    Column("uidvalidity", BigInteger, primary_key=True),
    Column("last_uid", BigInteger, nullable=False),
    Column("at", Instant, nullable=False),
)

inbox_unmatched = Table(  # mail that names no message or contact we know: kept, reported; schema v10
    "inbox_unmatched", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("dedup", String(300), nullable=False),  # inbox:<Message-ID> or inbox:sha256:<hash>
    Column("mailbox", String(400), nullable=False),
    Column("uid", BigInteger),
    Column("at", Instant, nullable=False),  # when it was read
    Column("sender", String(320)),
    Column("subject", Text),
    Column("label", String(40), nullable=False),  # what the classifier made of it
    Column("evidence", Text, nullable=False),  # JSON list
    Column("headers", Text, nullable=False),  # the message's header block, as received (bounded)
    UniqueConstraint("dedup", name="uq_inbox_unmatched_dedup"),
)

split_decisions = Table(  # the winner of each split with `pick winner by`, recorded once (fsl.engine.experiments)
    "split_decisions", metadata,
    Column("playbook", Name, primary_key=True),
    Column("split", Name, primary_key=True),
    Column("winner", Name, nullable=False),  # the variant later splits take
    Column("decided_at", Instant, nullable=False),  # the instant the sequential test found it
    Column("figures", Text, nullable=False),  # JSON: the test's figures at that instant
)  # schema v11

split_sends = Table(  # the sends made inside a split's variants: what its test reads (fsl.engine.experiments)
    "split_sends", metadata,  # written with the sends (writeback.py), so no index of every send is needed; v15
    Column("playbook", Name, primary_key=True),
    Column("step", Name, primary_key=True),
    Column("action_key", String(400), primary_key=True),  # actions.key
)

# (v1.1) `send at best time` (fsl.engine.besttime): human engagement counted by the
# local hour it happened, kept up to date as events are applied, so choosing a
# contact's best hour reads 48 numbers, never the contact's history; schema v12
engagement = Table(
    "engagement", metadata,
    Column("contact", Name, primary_key=True),
    Column("hour", Integer, primary_key=True, autoincrement=False),  # 0-23, local to the contact
    Column("n", BigInteger, nullable=False),
)
engagement_totals = Table(  # the same, over the whole project
    "engagement_totals", metadata,
    Column("hour", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
)

users = Table(  # the console's people (CONSOLE.md; fsl.web.console); schema v13
    "users", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", Name, nullable=False),  # the login name
    Column("password_hash", Text, nullable=False),  # argon2id, salted (PHC string)
    Column("role", String(10), nullable=False),  # rep | manager | admin
    Column("team", Name),
    Column("owner_id", Name, nullable=False),  # what contacts' `owner` and tasks' assignee hold
    Column("timezone", String(64), nullable=False),
    Column("display_name", Text),
    Column("email", String(320)),
    Column("phone", String(64)),
    Column("signature", Text),
    Column("disabled_at", Instant),
    Column("created_at", Instant, nullable=False),
    UniqueConstraint("name", name="uq_users_name"),
    Index("ix_users_owner", "owner_id"),
    Index("ix_users_team", "team"),
)

sessions = Table(  # console sessions: the cookie carries the id, the store its hash; schema v13
    "sessions", metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the cookie's session id, never the id itself
    Column("user_id", BigInteger, nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("seen_at", Instant, nullable=False),
    Column("address", String(64)),
    Index("ix_sessions_user", "user_id"),
)

login_failures = Table(  # wrong passwords, for the login limits of CONSOLE.md; schema v13
    "login_failures", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("at", Instant, nullable=False),
    Column("username", Name, nullable=False),  # as typed, lower case
    Column("address", String(64), nullable=False),
    Index("ix_login_failures_user", "username", "at"),
    Index("ix_login_failures_address", "address", "at"),
)
