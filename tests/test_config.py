"""The project file loader (CONFIG.md) and durations."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from fsl.config import (
    BUILTIN_EVENTS,
    ENGAGEMENT_EVENTS,
    Config,
    FieldType,
    find_config,
    load_config,
)
from fsl.durations import Duration, parse_duration

from .conftest import CONFORMANCE  # noqa: E402


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fsl.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_ok(path: Path) -> Config:
    config, diags = load_config(path)
    assert diags == [], [d.message for d in diags]
    assert config is not None
    return config


def only_error(path: Path):
    config, diags = load_config(path)
    assert config is None
    assert len(diags) == 1, [(d.code, d.span.line, d.message) for d in diags]
    return diags[0]


# -- the conformance project file ---------------------------------------------


def test_conformance_config_loads():
    config = load_ok(CONFORMANCE / "fsl.yaml")
    assert config.version == 1
    assert config.root == CONFORMANCE
    assert config.sequences == CONFORMANCE / "valid"
    assert config.templates == CONFORMANCE / "templates"
    assert config.store == "sqlite:///:memory:"
    assert config.timezone == "America/New_York"
    assert config.caps == []
    assert set(config.channels) == {"email", "sms", "linkedin"}
    assert config.channels["email"].adapter == "smtp"
    assert config.channels["email"].settings.port == 1025
    assert config.channels["sms"].settings.url == "http://127.0.0.1:8025/sms"
    assert config.llm is not None
    assert config.llm.model == "local-model"
    assert config.llm.timeout_seconds == 30.0
    assert config.llm.concurrency == 4
    assert config.llm.max_retries == 2
    assert config.llm.api_key is None


def test_conformance_schema_and_builtins():
    config = load_ok(CONFORMANCE / "fsl.yaml")
    contact = config.schema_.fields("contact")
    assert contact["tier"] == FieldType(kind="enum", members=("A", "B", "C"))
    assert contact["last_name"] == FieldType(kind="string", optional=True)
    assert contact["churned_at"].kind == "datetime" and contact["churned_at"].optional
    assert contact["id"] == FieldType(kind="string")
    assert contact["email"] == FieldType(kind="string")
    assert contact["phone"].optional and contact["owner"].optional
    assert config.schema_.fields("deal")["id"].kind == "string"
    assert config.schema_.fields("deal")["stage"].members[0] == "discovery"
    assert config.schema_.fields("stakeholder")["attended"].kind == "bool"
    with pytest.raises(ValueError):
        config.schema_.fields("company")


def test_conformance_events():
    config = load_ok(CONFORMANCE / "fsl.yaml")
    assert config.event_fields("purchased") == {"amount": FieldType(kind="number")}
    assert config.event_fields("login") == {}
    assert config.event_fields("nope") is None
    replied = config.event_fields("replied")
    assert replied is not None
    assert replied["kind"].members == ("human", "out_of_office", "auto_reply", "unsubscribe_request")
    assert replied["return_date"] == FieldType(kind="date", optional=True)
    assert config.event_fields("clicked") == {"link": FieldType(kind="string"),
                                              "machine": FieldType(kind="bool", optional=True)}
    assert config.event_fields("snoozed")["until"].kind == "datetime"
    everything = config.all_events()
    assert set(BUILTIN_EVENTS) <= set(everything)
    assert {"meeting_ended", "ticket_opened", "inquiry_received"} <= set(everything)
    assert "unsubscribed" not in ENGAGEMENT_EVENTS and "snoozed" not in ENGAGEMENT_EVENTS
    assert {"opened", "clicked", "replied", "bounced", "sent"} <= ENGAGEMENT_EVENTS


def test_caps_project():
    config = load_ok(CONFORMANCE / "scenarios" / "caps_project.yaml")
    assert len(config.caps) == 1
    cap = config.caps[0]
    assert cap.channel is None and cap.limit == 1
    assert cap.per == Duration(1, "days")
    assert cap.per_minutes == 1440
    assert config.templates == CONFORMANCE / "templates"
    assert config.sequences == CONFORMANCE / "scenarios"


def test_config_is_frozen():
    config = load_ok(CONFORMANCE / "fsl.yaml")
    with pytest.raises(ValidationError):
        config.timezone = "UTC"  # type: ignore[misc]


# -- defaults, env, paths -------------------------------------------------------


def test_defaults_and_relative_store(tmp_path):
    config = load_ok(write(tmp_path, "version: 1\n"))
    assert config.timezone == "UTC"
    assert config.store == f"sqlite:///{tmp_path.resolve() / 'fsl.db'}"
    assert config.sequences == tmp_path.resolve() / "sequences"
    assert config.llm is None
    assert config.schema_.fields("contact")["email"].kind == "string"


def test_env_substitution(tmp_path, monkeypatch):
    monkeypatch.setenv("FSL_TEST_URL", "http://llm.local/v1")
    monkeypatch.setenv("FSL_TEST_HOST", "mail.example")
    monkeypatch.delenv("FSL_TEST_UNSET_KEY", raising=False)
    path = write(tmp_path, """
        version: 1
        channels:
          email: {adapter: smtp, host: "${FSL_TEST_HOST}", from: "ops@${FSL_TEST_HOST}"}
        llm:
          base_url: ${FSL_TEST_URL}
          model: m
          api_key: ${FSL_TEST_UNSET_KEY}
    """)
    config = load_ok(path)
    assert config.llm.base_url == "http://llm.local/v1"
    assert config.llm.api_key is None
    assert config.channels["email"].settings.host == "mail.example"
    assert config.channels["email"].settings.sender == "ops@mail.example"


def test_secret_stays_out_of_messages_and_repr(tmp_path, monkeypatch):
    monkeypatch.setenv("FSL_TEST_SECRET", "s3cr3t-value")
    path = write(tmp_path, """
        version: 1
        llm:
          api_key: ${FSL_TEST_SECRET}
          concurrency: ${FSL_TEST_SECRET}
    """)
    diag = only_error(path)
    assert diag.code == "E002" and diag.span.line == 4
    assert "s3cr3t" not in diag.message
    monkeypatch.setenv("FSL_TEST_SECRET", "4")
    config = load_ok(path)
    assert config.llm.concurrency == 4
    assert "FSL_TEST_SECRET" not in repr(config.llm) and "api_key" not in repr(config.llm)


def test_find_config(tmp_path):
    write(tmp_path, "version: 1\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) == (tmp_path / "fsl.yaml").resolve()
    assert find_config(CONFORMANCE / "valid") == CONFORMANCE / "fsl.yaml"


# -- errors ----------------------------------------------------------------------


def test_missing_file_is_e001(tmp_path):
    config, diags = load_config(tmp_path / "fsl.yaml")
    assert config is None
    assert [d.code for d in diags] == ["E001"]
    assert diags[0].span.file == str(tmp_path / "fsl.yaml")


def test_yaml_syntax_error_is_e002_at_its_line(tmp_path):
    path = write(tmp_path, """
        version: 1
        timezone: UTC
        channels:
          email: {adapter: smtp, host: [1, 2}
    """)
    diag = only_error(path)
    assert diag.code == "E002"
    assert diag.span.line == 4
    assert "malformed YAML" in diag.message


def test_bad_indentation_is_e002(tmp_path):
    diag = only_error(write(tmp_path, "version: 1\nschema:\n  contact:\n    a: string\n   b: string\n"))
    assert diag.code == "E002" and diag.span.line == 5


def test_duplicate_key(tmp_path):
    diag = only_error(write(tmp_path, "version: 1\ntimezone: UTC\ntimezone: Europe/Paris\n"))
    assert diag.code == "E002" and diag.span.line == 3
    assert "timezone" in diag.message


def test_unknown_field_type_at_its_line(tmp_path):
    path = write(tmp_path, """
        version: 1
        schema:
          contact:
            first_name: string
            score: decimal
    """)
    diag = only_error(path)
    assert diag.code == "E002"
    assert (diag.span.line, diag.span.column) == (5, 12)
    assert "decimal" in diag.message and "string" in diag.message


def test_enum_members_are_strings(tmp_path):
    path = write(tmp_path, """
        version: 1
        schema:
          contact:
            tier: {enum: [A, 1, true], optional: true}
            nps: integer?
    """)
    contact = load_ok(path).schema_.fields("contact")
    assert contact["tier"] == FieldType(kind="enum", optional=True, members=("A", "1", "true"))
    assert contact["nps"] == FieldType(kind="integer", optional=True)


def test_bad_enum(tmp_path):
    diag = only_error(write(tmp_path, "version: 1\nschema:\n  deal:\n    stage: {enum: []}\n"))
    assert diag.span.line == 4 and "enum" in diag.message


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("version: 2\n", 1, "version"),
        ("version: 1\ncaps:\n  - {per: 7 days}\n", 3, "limit"),
        ("version: 1\ncaps:\n  - {limit: 0, per: 7 days}\n", 3, "positive"),
        ("version: 1\ncaps:\n  - {limit: 2, per: 7 fortnights}\n", 3, "fortnights"),
        ("version: 1\ncaps:\n  - {limit: 2, per: 7 days, channel: fax}\n", 3, "fax"),
        ("version: 1\nschema: [contact]\n", 2, "schema"),
        ("version: 1\nschema:\n  company:\n    a: string\n", 3, "company"),
        ("version: 1\nchannels:\n  email: {adapter: pigeon}\n", 3, "adapter"),
        ("version: 1\nchannels:\n  email: {host: x}\n", 3, "adapter"),
        ("version: 1\ntimezone: Mars/Olympus\n", 2, "time zone"),
        ("version: 1\nllm:\n  model: m\n  timeout: soon\n", 4, "timeout"),
        ("version: 1\nsequnces: seq/\n", 2, "sequnces"),
        ("timezone: UTC\n", 1, "version"),
        ("- a\n- b\n", 1, "mapping"),
        ("", 1, "empty"),
    ],
)
def test_structure_errors(tmp_path, text, line, words):
    diag = only_error(write(tmp_path, text))
    assert diag.code == "E002"
    assert diag.span.line == line
    assert words in diag.message


def test_several_errors_are_all_reported(tmp_path):
    config, diags = load_config(write(tmp_path, "version: 1\nschema:\n  contact:\n    a: strin\n    b: flot\n"))
    assert config is None
    assert [d.span.line for d in diags] == [4, 5]


def test_unquoted_value_ending_with_colon_is_a_string(tmp_path):
    config = load_ok(write(tmp_path, "version: 1\nstore: sqlite:///:memory:   # in memory\n"))
    assert config.store == "sqlite:///:memory:"


# -- durations -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, amount, unit, canonical",
    [
        ("7 days", 7, "days", "7 days"),
        ("1 day", 1, "days", "1 day"),
        ("30 seconds", 30, "seconds", "30 seconds"),
        ("4 hours", 4, "hours", "4 hours"),
        ("30 minutes", 30, "minutes", "30 minutes"),
        ("1 week", 1, "weeks", "1 week"),
        ("3 business days", 3, "business_days", "3 business days"),
        ("1 business day", 1, "business_days", "1 business day"),
        ("30m", 30, "minutes", "30 minutes"),
        ("4h", 4, "hours", "4 hours"),
        ("2d", 2, "days", "2 days"),
        ("1w", 1, "weeks", "1 week"),
        ("30s", 30, "seconds", "30 seconds"),
    ],
)
def test_parse_duration(text, amount, unit, canonical):
    duration = parse_duration(text)
    assert (duration.amount, duration.unit) == (amount, unit)
    assert str(duration) == canonical
    assert parse_duration(str(duration)) == duration


def test_duration_seconds():
    assert parse_duration("30m").fixed_seconds() == 1800
    assert parse_duration("4 hours").fixed_seconds() == 14400
    assert parse_duration("2 days").fixed_seconds() is None
    assert parse_duration("1 week").fixed_seconds() is None
    assert parse_duration("1 week").nominal_seconds() == 7 * 86400
    assert parse_duration("2 business days").nominal_seconds() is None


@pytest.mark.parametrize("text", ["", "days", "7", "7 fortnights", "-1 day", "1.5 days", "seven days"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)
