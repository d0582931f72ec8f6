"""The project file `fsl.yaml` (CONFIG.md): find it, load it, validate it.

`load_config` never raises for bad input: every problem becomes a Diagnostic
(E001 unreadable, E002 malformed) pointing at the line and column of the
offending key or value, so `fsl check` can show the project file next to the
playbooks.  The file is read with ruamel.yaml's round-trip loader only to get
those positions; the result is a tree of frozen pydantic models.

Values `${NAME}` are read from the environment at load time.  An unset
variable makes the value none (secrets such as `llm.api_key` may be absent
while authoring), except in `store`, `sequences`, `templates` and
`timezone`, whose defaults would silently replace what was meant: there it
is an error naming the variable.  Messages quote the text as written, never a substituted
value, so secrets never reach a diagnostic.
"""
from __future__ import annotations

import os
import re
import zoneinfo
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from fsl.inbox_settings import InboxSettings, validate_inbox
from fsl.server_settings import ServerSettings, validate_server
from fsl.webhook_settings import WebhookSettings, validate_webhooks
from fsl.channel_settings import (
    SETTINGS_MODELS, ChannelSettings, required_keys, settings_for, validate_settings,
)
from fsl.diagnostics.core import Diagnostic, Span, did_you_mean
from fsl.durations import Duration, parse_duration
from fsl.syntax.defaults import Defaults, parse_defaults
from fsl.yaml_bounds import TooBig, check_bounds

CONFIG_FILE = "fsl.yaml"

Kind = Literal["string", "number", "integer", "bool", "date", "datetime", "list", "enum"]
KINDS: tuple[str, ...] = ("string", "number", "integer", "bool", "date", "datetime", "list", "enum")
Adapter = Literal["smtp", "webhook", "task", "notify", "log"]
ADAPTERS: tuple[str, ...] = ("smtp", "webhook", "task", "notify", "log")
ENTITIES: tuple[str, ...] = ("contact", "deal", "stakeholder")


# ---------------------------------------------------------------------------
# Models


class FieldType(BaseModel):
    """The declared type of a schema or event field (`string?`, `{enum: [a, b]}`)."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    optional: bool = False
    members: tuple[str, ...] = ()

    @staticmethod
    def parse(spec: Any) -> "FieldType":
        """Read `string`, `string?`, `{enum: [...]}`, `{enum: [...], optional: true}`.

        `spec` is plain YAML data; raises ValueError saying what was expected.
        """
        if isinstance(spec, str):
            text = spec.strip()
            optional = text.endswith("?")
            kind = text[:-1].strip() if optional else text
            if kind == "enum":
                raise ValueError("an enum type is written {enum: [a, b, ...]}")
            if kind not in KINDS:
                raise ValueError(f"unknown field type {spec!r}; expected {_type_list()}")
            return FieldType(kind=kind, optional=optional)  # type: ignore[arg-type]
        if isinstance(spec, Mapping):
            extra = [str(k) for k in spec if k not in ("enum", "optional")]
            if extra or "enum" not in spec:
                raise ValueError(
                    "a field type mapping is {enum: [a, b, ...]} with an optional `optional: true`"
                    + (f"; unexpected key {extra[0]!r}" if extra else "")
                )
            optional = spec.get("optional", False)
            if not isinstance(optional, bool):
                raise ValueError("`optional` must be true or false")
            raw = spec["enum"]
            if not isinstance(raw, (list, tuple)) or not raw:
                raise ValueError("`enum` must be a non-empty list of values, e.g. {enum: [a, b]}")
            members: list[str] = []
            for item in raw:
                if item is None or isinstance(item, (Mapping, list, tuple)):
                    raise ValueError(f"enum members must be plain values, got {item!r}")
                text = _scalar_text(item)
                if text in members:
                    raise ValueError(f"enum member {text!r} is listed twice")
                members.append(text)
            return FieldType(kind="enum", optional=optional, members=tuple(members))
        raise ValueError(f"expected a field type: {_type_list()}, not {spec!r}")

    def __str__(self) -> str:
        base = "enum[" + ", ".join(self.members) + "]" if self.kind == "enum" else self.kind
        return base + ("?" if self.optional else "")


def _type_list() -> str:
    return ", ".join(k for k in KINDS if k != "enum") + " (with an optional trailing ?) or {enum: [...]}"


def _scalar_text(item: Any) -> str:
    """YAML scalars as enum members: keep them as strings (`A`, `true`, `1`)."""
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)


def _ft(kind: str, optional: bool = False, members: tuple[str, ...] = ()) -> FieldType:
    return FieldType(kind=kind, optional=optional, members=members)  # type: ignore[arg-type]


# Fields every project has without declaring them (CONFIG.md).
BUILTIN_FIELDS: Mapping[str, Mapping[str, FieldType]] = MappingProxyType({
    "contact": MappingProxyType({
        "id": _ft("string"),
        "email": _ft("string"),
        "phone": _ft("string", True),
        "timezone": _ft("string", True),
        "owner": _ft("string", True),
    }),
    "deal": MappingProxyType({"id": _ft("string")}),
    "stakeholder": MappingProxyType({}),
})

REPLY_KINDS: tuple[str, ...] = ("human", "out_of_office", "auto_reply", "unsubscribe_request")

# Built-in events and their fields (LANGUAGE.md section 8); read-only.
BUILTIN_EVENTS: Mapping[str, Mapping[str, FieldType]] = MappingProxyType({
    "sent": MappingProxyType({}),
    "delivered": MappingProxyType({}),
    # `machine`: a scanner's or a privacy proxy's fetch, not a person's (SIGNALS.md 1); absent = human
    "opened": MappingProxyType({"machine": _ft("bool", True)}),
    "clicked": MappingProxyType({"link": _ft("string"), "machine": _ft("bool", True)}),
    "replied": MappingProxyType({
        "kind": _ft("enum", members=REPLY_KINDS),
        "return_date": _ft("date", True),
    }),
    "forwarded": MappingProxyType({"to": _ft("string", True)}),  # the new addresses (SIGNALS.md 3)
    "bounced": MappingProxyType({"kind": _ft("enum", True, members=("hard", "soft"))}),
    "deferred": MappingProxyType({"reason": _ft("string", True)}),
    "unsubscribed": MappingProxyType({}),
    "complained": MappingProxyType({}),
    "snoozed": MappingProxyType({"until": _ft("datetime", True)}),
    # a person completed a task (the console's Done, `fsl tasks done`; CONSOLE.md)
    "task_done": MappingProxyType({
        "task": _ft("integer"),
        "channel": _ft("string"),
        "summary": _ft("string"),
        "feedback": _ft("string"),
        "status": _ft("string"),
        "next_at": _ft("date", True),
    }),
})

# Events that concern one message (the step that sent it).
ENGAGEMENT_EVENTS: frozenset[str] = frozenset(
    {"sent", "delivered", "opened", "clicked", "replied", "forwarded", "bounced", "deferred", "complained"}
)


class Schema(BaseModel):
    """Declared fields per entity; `fields()` adds the built-ins."""

    model_config = ConfigDict(frozen=True)

    contact: dict[str, FieldType] = Field(default_factory=dict)
    deal: dict[str, FieldType] = Field(default_factory=dict)
    stakeholder: dict[str, FieldType] = Field(default_factory=dict)

    def fields(self, entity: str) -> dict[str, FieldType]:
        """All fields of `contact`, `deal` or `stakeholder`; declared ones win over built-ins."""
        if entity not in ENTITIES:
            raise ValueError(f"unknown entity {entity!r}; expected one of {', '.join(ENTITIES)}")
        return {**BUILTIN_FIELDS[entity], **getattr(self, entity)}

    def field(self, entity: str, name: str) -> FieldType | None:
        return self.fields(entity).get(name)


class Channel(BaseModel):
    """A named channel and the adapter that delivers it, with that adapter's validated settings.

    `settings` may be given as a plain mapping (tests, the demo): it is
    validated by the adapter's model (fsl/channel_settings.py) all the same.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    adapter: Adapter
    settings: ChannelSettings = Field(default=None, validate_default=True)

    @field_validator("settings", mode="before")
    @classmethod
    def _adapter_settings(cls, value: Any, info: ValidationInfo) -> Any:
        adapter = info.data.get("adapter")
        model = SETTINGS_MODELS.get(adapter) if isinstance(adapter, str) else None
        if model is None or isinstance(value, model):
            return value
        return settings_for(str(adapter), value or {})


class GlobalCap(BaseModel):
    """At most `limit` sends (on `channel`, or any) per contact in a rolling `per` window."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    channel: str | None = None
    limit: int = Field(gt=0)
    per: Duration | None = None  # None for a calendar cap
    calendar: Literal["week", "month"] | None = None  # (v1.1) `per: calendar week`, in the contact's zone

    @property
    def per_seconds(self) -> int | None:
        """The window's nominal length (24-hour days); None for business days and calendar caps."""
        return self.per.nominal_seconds() if self.per is not None else None

    @property
    def per_minutes(self) -> int | None:
        seconds = self.per_seconds
        return None if seconds is None else seconds // 60


class LLMConfig(BaseModel):
    """The OpenAI-compatible endpoint used by `renderer: llm` templates."""

    model_config = ConfigDict(frozen=True)

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = Field(default=None, repr=False)  # a secret: keep it out of reprs
    timeout_seconds: float = 30.0
    concurrency: int = 8
    max_retries: int = 2


class Config(BaseModel):
    """A loaded project file; paths are absolute, resolved against the file's folder."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, arbitrary_types_allowed=True)

    path: Path
    root: Path
    version: int = 1
    sequences: Path
    templates: Path
    store: str = "sqlite:///fsl.db"
    timezone: str = "UTC"
    schema_: Schema = Field(default_factory=Schema, alias="schema")
    events: dict[str, dict[str, FieldType]] = Field(default_factory=dict)
    channels: dict[str, Channel] = Field(default_factory=dict)
    caps: list[GlobalCap] = Field(default_factory=list)
    llm: LLMConfig | None = None
    server: ServerSettings | None = None  # v1.1: `fsl serve` (SIGNALS.md)
    defaults: Defaults | None = None  # v1.1: `defaults:`, settings and rules every playbook inherits
    webhooks: WebhookSettings | None = None  # v1.1: provider webhooks (SIGNALS.md 2)
    inbox: InboxSettings | None = None  # v1.1: the IMAP mailbox of replies and bounces (SIGNALS.md 3)

    def event_fields(self, name: str) -> dict[str, FieldType] | None:
        """Fields of a built-in or declared event, or None when the event is unknown.

        A declared event with a built-in's name may add fields; the built-in
        fields keep their types, since the runtime relies on them.
        """
        builtin = BUILTIN_EVENTS.get(name)
        custom = self.events.get(name)
        if builtin is None and custom is None:
            return None
        return {**(custom or {}), **(builtin or {})}

    def all_events(self) -> dict[str, dict[str, FieldType]]:
        """Every known event name -> its fields (built-ins first, then declared)."""
        names = list(BUILTIN_EVENTS) + [n for n in self.events if n not in BUILTIN_EVENTS]
        return {n: self.event_fields(n) or {} for n in names}

    def field_type(self, entity: str, name: str) -> FieldType | None:
        return self.schema_.field(entity, name)


# ---------------------------------------------------------------------------
# Finding and loading


def find_config(start: Path) -> Path | None:
    """The nearest `fsl.yaml` in `start` (a folder or a file's folder) or its parents."""
    here = Path(start).resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path) -> tuple[Config | None, list[Diagnostic]]:
    """Load and validate a project file: (config, []) or (None, diagnostics)."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [_e001(file, f"cannot read project file {file}: no such file")]
    except IsADirectoryError:
        return None, [_e001(file, f"cannot read project file {file}: it is a directory")]
    except UnicodeDecodeError as exc:
        return None, [_e001(file, f"cannot read project file {file}: not UTF-8 ({exc.reason})")]
    except OSError as exc:
        return None, [_e001(file, f"cannot read project file {file}: {exc.strerror or exc}")]
    try:
        data = _load_yaml(text)
    except TooBig as exc:
        mark = exc.problem_mark
        return None, [Diagnostic.make("E002", f"the project file is refused: {exc.problem}",
                                      Span.point(file, mark.line + 1, mark.column + 1))]
    except MarkedYAMLError as exc:
        return None, [_yaml_error(file, exc)]
    except YAMLError as exc:  # pragma: no cover - ruamel marks nearly everything
        return None, [Diagnostic.make("E002", f"malformed YAML: {exc}", Span.point(file, 1, 1))]
    builder = _Builder(file, path.resolve(), text)
    config = builder.build(data)
    if builder.diags:
        return None, sorted(builder.diags, key=Diagnostic.sort_key)
    return config, []


def _e001(file: str, message: str) -> Diagnostic:
    return Diagnostic.make("E001", message, Span.point(file, 1, 1))


_DUP_KEY = re.compile(r'found duplicate key "([^"]*)"')


def _yaml_error(file: str, exc: MarkedYAMLError) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = exc.problem or "syntax error"
    dup = _DUP_KEY.search(problem)
    if dup:  # ruamel's text quotes both values; values stay out of messages
        return Diagnostic.make(
            "E002", f"key `{dup.group(1)}` is given twice", Span.point(file, line, column, len(dup.group(1))),
            "keep one of the two",
        )
    message = f"malformed YAML: {problem}"
    if exc.context:
        message += f" ({exc.context.strip()})"
    return Diagnostic.make("E002", message, Span.point(file, line, column))


# A block-mapping line whose plain value ends with ':' (`store: sqlite:///:memory:`).
_TRAILING_COLON = re.compile(
    r"^(?P<head>\s*(?:-\s+)?[A-Za-z_][\w.-]*:\s+)(?P<value>[^\s'\"{\[&*!|>%@`#][^#]*?:)(?P<tail>\s*(?:#.*)?)$"
)


def _load_yaml(text: str) -> Any:
    """Round-trip load, accepting a plain value that ends with ':' as a string.

    Strict YAML rejects `store: sqlite:///:memory:` (the final colon reads as a
    mapping indicator), yet CONFIG.md writes such values unquoted.  Only lines
    the parser refused are rewritten, by quoting that value; columns of
    everything before it are unchanged.
    """
    lines = text.splitlines(keepends=True)
    for _ in range(len(lines) + 1):
        try:
            check_bounds("".join(lines))  # before composing: an alias bomb or a deep list never gets built
            return YAML(typ="rt").load("".join(lines))
        except TooBig:
            raise
        except MarkedYAMLError as exc:
            mark = exc.problem_mark
            if mark is None or exc.problem != "mapping values are not allowed here" or mark.line >= len(lines):
                raise
            raw = lines[mark.line]
            body = raw.rstrip("\r\n")
            found = _TRAILING_COLON.match(body)
            if found is None or found.end("value") != mark.column + 1:
                raise
            value = found.group("value").rstrip().replace("'", "''")
            lines[mark.line] = found.group("head") + f"'{value}'" + found.group("tail") + raw[len(body):]
    raise AssertionError("unreachable")  # pragma: no cover


def key_position(path: Path, keys: list[str]) -> tuple[int, int] | None:
    """Where a key sits in a project file (0-based line, column), for the editor's go-to-definition."""
    try:
        node: Any = _load_yaml(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return None
    pos = None
    for key in keys:
        if not isinstance(node, Mapping) or key not in node or not hasattr(node, "lc"):
            return None
        pos = node.lc.key(key)
        node = node[key]
    return (pos[0], pos[1]) if pos else None


# ---------------------------------------------------------------------------
# Environment substitution

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute_env(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace `${NAME}` in a string; None when a named variable is unset."""
    if not isinstance(value, str) or "${" not in value:
        return value
    env = os.environ if environ is None else environ
    names = _ENV.findall(value)
    if any(name not in env for name in names):
        return None
    return _ENV.sub(lambda m: env[m.group(1)], value)


def plain(value: Any, text: Callable[[str], Any] = str,
          instant: Callable[[datetime], Any] | None = None) -> Any:
    """ruamel's commented containers and scalars -> plain dicts, lists, bools,
    ints, floats and strings: the one converter of fsl.yaml and scenario files.

    `text` maps every string (fsl.yaml's settings: `${ENV}` substitution),
    `instant` every timestamp (scenarios: an aware UTC datetime); other
    values (dates) are kept.
    """
    if isinstance(value, Mapping):
        return {str(k): plain(v, text, instant) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, text, instant) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return text(str(value))
    if instant is not None and isinstance(value, datetime):
        return instant(value)
    return value


def _plain(value: Any) -> Any:
    """Plain data of a setting, with `${ENV}` substituted."""
    return plain(value, substitute_env)


# ---------------------------------------------------------------------------
# Validation with positions

_TOP_KEYS = ("version", "sequences", "templates", "store", "timezone", "schema", "events", "channels", "caps", "llm",
             "server", "defaults", "webhooks", "inbox")
_CAP_KEYS = ("channel", "limit", "per")
_CALENDAR = re.compile(r"calendar\s+(week|month)")  # (v1.1) a cap's `per: calendar week|month`
_LLM_KEYS = ("base_url", "model", "api_key", "timeout", "concurrency", "max_retries")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_SQLITE = re.compile(r"^(sqlite(?:\+\w+)?):///(.*)$")


class _Builder:
    """Walks the loaded YAML, collecting E002 diagnostics at key/value positions."""

    def __init__(self, file: str, path: Path, text: str = "") -> None:
        self.file = file
        self.text = text  # the file as read: `defaults` is parsed from its own lines
        self.path = path
        self.root = path.parent
        self.diags: list[Diagnostic] = []

    # -- positions ---------------------------------------------------------
    def _span(self, pos: tuple[int, int] | None, length: int = 1) -> Span:
        line, col = pos if pos is not None else (0, 0)
        return Span.point(self.file, line + 1, col + 1, length)

    def key_span(self, node: Any, key: Any) -> Span:
        try:
            return self._span(node.lc.key(key), len(str(key)))
        except (AttributeError, KeyError, TypeError):
            return self.node_span(node)

    def value_span(self, node: Any, key: Any) -> Span:
        value = node.get(key) if isinstance(node, Mapping) else None
        if value is None:
            return self.key_span(node, key)
        try:
            return self._span(node.lc.value(key), _length(value))
        except (AttributeError, KeyError, TypeError):
            return self.key_span(node, key)

    def item_span(self, node: Any, index: int) -> Span:
        try:
            return self._span(node.lc.item(index), _length(node[index]))
        except (AttributeError, KeyError, TypeError, IndexError):
            return self.node_span(node)

    def node_span(self, node: Any) -> Span:
        lc = getattr(node, "lc", None)
        if lc is not None and lc.line is not None:
            return self._span((lc.line, lc.col))
        return Span.point(self.file, 1, 1)

    def error(self, span: Span, message: str, help: str | None = None) -> None:
        self.diags.append(Diagnostic.make("E002", message, span, help))

    def check_keys(self, node: Mapping, allowed: tuple[str, ...], where: str) -> None:
        for key in node:
            if key not in allowed:
                guess = did_you_mean(str(key), allowed)
                self.error(
                    self.key_span(node, key),
                    f"unknown key `{key}` in {where}; expected one of {', '.join(allowed)}",
                    f"did you mean `{guess}`?" if guess else None,
                )

    def expect_mapping(self, parent: Mapping, key: str, what: str) -> Mapping | None:
        """The mapping under `key` (None when absent or null; reported when not a mapping)."""
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.error(self.value_span(parent, key), f"`{key}` must be a mapping of {what}")
            return None
        return value

    def string(self, parent: Mapping, key: str, default: str | None, *, need_env: bool = False) -> str | None:
        """A string setting after env substitution; unset variables give the
        default, or with `need_env` are an error naming them (a `store:
        ${DATABASE_URL}` must never quietly become the default SQLite file)."""
        if key not in parent or parent[key] is None:
            return default
        raw = parent[key]
        if not isinstance(raw, str):
            self.error(self.value_span(parent, key), f"`{key}` must be a string, got {_describe(raw)}")
            return default
        value = substitute_env(raw)
        if value is None and need_env:
            unset = [name for name in _ENV.findall(raw) if name not in os.environ]
            self.error(self.value_span(parent, key),
                       f"`{key}` names the environment variable {', '.join(unset)}, which is not set",
                       "set it, or write the value in fsl.yaml")
        return default if value is None else value

    def integer(self, parent: Mapping, key: str, default: int, minimum: int) -> int:
        if key not in parent or parent[key] is None:
            return default
        raw = parent[key]
        value = substitute_env(raw) if isinstance(raw, str) else raw
        if value is None:  # unset env var
            return default
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            self.error(self.value_span(parent, key), f"`{key}` must be {expected}, got {_describe(raw)}")
            return default
        return int(value)

    # -- the document ------------------------------------------------------
    def build(self, data: Any) -> Config | None:
        if data is None:
            self.error(Span.point(self.file, 1, 1), "the project file is empty; expected a mapping starting with `version: 1`")
            return None
        if not isinstance(data, Mapping):
            self.error(self.node_span(data), f"expected a mapping of settings (version, sequences, ...), got {_describe(data)}")
            return None
        self.check_keys(data, _TOP_KEYS, "fsl.yaml")

        version = 1
        if "version" not in data:
            self.error(Span.point(self.file, 1, 1), "missing `version: 1`", "add `version: 1` at the top")
        elif isinstance(data["version"], bool) or data["version"] != 1:
            self.error(self.value_span(data, "version"), f"unsupported version {data['version']!r}; expected `version: 1`")

        sequences = self.string(data, "sequences", "sequences", need_env=True)
        templates = self.string(data, "templates", "templates", need_env=True)
        store = self._store(self.string(data, "store", "sqlite:///fsl.db", need_env=True) or "sqlite:///fsl.db")
        timezone = self.string(data, "timezone", "UTC", need_env=True) or "UTC"
        if "timezone" in data and isinstance(data["timezone"], str) and not _valid_zone(timezone):
            self.error(self.value_span(data, "timezone"),
                       f"unknown time zone {data['timezone']!r}; expected an IANA name such as America/New_York")
            timezone = "UTC"

        schema = self._schema(data)
        events = self._events(data)
        channels = self._channels(data)
        caps = self._caps(data, channels)
        llm = self._llm(data)
        server = self._server(data)
        self._tracking_needs_a_server(data, channels, server)
        defaults = self._defaults(data)
        webhooks = self._webhooks(data)
        inbox = self._inbox(data)
        if self.diags:
            return None
        return Config(
            path=self.path,
            root=self.root,
            version=version,
            sequences=(self.root / (sequences or "sequences")).resolve(),
            templates=(self.root / (templates or "templates")).resolve(),
            store=store,
            timezone=timezone,
            schema=schema,  # the field's alias: mypy (no pydantic plugin) knows only that name
            events=events,
            channels=channels,
            caps=caps,
            llm=llm,
            server=server,
            defaults=defaults,
            webhooks=webhooks,
            inbox=inbox,
        )

    def _store(self, url: str) -> str:
        """Relative sqlite paths are relative to the project folder, not the cwd."""
        found = _SQLITE.match(url)
        if not found:
            return url
        scheme, rest = found.groups()
        target, sep, query = rest.partition("?")
        if target in ("", ":memory:") or target.startswith("/") or target.startswith("file:"):
            return url
        return f"{scheme}:///{(self.root / target).resolve()}{sep}{query}"

    def _field_types(self, node: Mapping, where: str) -> dict[str, FieldType]:
        fields: dict[str, FieldType] = {}
        for name, spec in node.items():
            if not isinstance(name, str) or not _NAME.match(name):
                self.error(self.key_span(node, name),
                           f"field name {name!r} in {where} must be lowercase letters, digits and _")
                continue
            try:
                fields[name] = FieldType.parse(plain(spec))  # `${...}` means nothing in a type
            except ValueError as exc:
                guess = did_you_mean(spec.rstrip("?"), KINDS) if isinstance(spec, str) else None
                self.error(self.value_span(node, name), f"{where}.{name}: {exc}",
                           f"did you mean `{guess}`?" if guess else None)
        return fields

    def _schema(self, data: Mapping) -> Schema:
        node = self.expect_mapping(data, "schema", "entities (contact, deal, stakeholder) to their fields")
        if node is None:
            return Schema()
        self.check_keys(node, ENTITIES, "schema")
        found: dict[str, dict[str, FieldType]] = {}
        for entity in ENTITIES:
            fields = self.expect_mapping(node, entity, "field names to types")
            if fields is not None:
                found[entity] = self._field_types(fields, entity)
        return Schema(**found)

    def _events(self, data: Mapping) -> dict[str, dict[str, FieldType]]:
        node = self.expect_mapping(data, "events", "event names to their fields ({} for none)")
        if node is None:
            return {}
        events: dict[str, dict[str, FieldType]] = {}
        for name in node:
            if not isinstance(name, str) or not _NAME.match(name):
                self.error(self.key_span(node, name),
                           f"event name {name!r} must be lowercase letters, digits and _")
                continue
            fields = self.expect_mapping(node, name, "field names to types ({} for none)")
            events[name] = self._field_types(fields, f"event {name}") if fields is not None else {}
        return events

    def _channels(self, data: Mapping) -> dict[str, Channel]:
        node = self.expect_mapping(data, "channels", "channel names to {adapter: ..., settings}")
        if node is None:
            return {}
        channels: dict[str, Channel] = {}
        for name, spec in node.items():
            if not isinstance(name, str) or not name:
                self.error(self.key_span(node, name), f"channel name {name!r} must be a string")
                continue
            if not isinstance(spec, Mapping):
                self.error(self.value_span(node, name),
                           f"channel `{name}` must be a mapping such as {{adapter: smtp, host: ...}}")
                continue
            if "adapter" not in spec:
                self.error(self.key_span(node, name),
                           f"channel `{name}` has no adapter; expected `adapter:` one of {', '.join(ADAPTERS)}")
                continue
            adapter = spec["adapter"]
            value = substitute_env(adapter) if isinstance(adapter, str) else adapter
            if value not in ADAPTERS:
                guess = did_you_mean(str(adapter), ADAPTERS)
                self.error(self.value_span(spec, "adapter"),
                           f"unknown adapter {adapter!r} for channel `{name}`; expected one of {', '.join(ADAPTERS)}",
                           f"did you mean `{guess}`?" if guess else None)
                continue
            settings = self._channel_settings(node, name, value, spec)
            if settings is not None:
                channels[name] = Channel(name=name, adapter=value, settings=settings)
        return channels

    def _channel_settings(self, node: Mapping, name: str, adapter: str, spec: Mapping) -> ChannelSettings | None:
        """The adapter's settings model; each invalid setting reported at its key or value."""
        data = {str(k): _plain(v) for k, v in spec.items() if k != "adapter"}
        settings, problems = validate_settings(adapter, name, data)
        for problem in problems:
            span, written = self._setting_at(spec, problem.path, problem.at_value)
            if span is None:  # the channel as a whole (a missing setting): at its name
                span = self.key_span(node, name)
            message = problem.message
            if problem.show_value and written is not None:
                message += f", got {_describe(written)}"  # as written: never a substituted secret
            self.error(span, message, problem.help)
        for key in required_keys(adapter):  # written as null, unlike an unset ${ENV}: a mistake
            if key in spec and spec[key] is None:
                self.error(self.value_span(spec, key), f"`{key}` of channel `{name}` needs a value")
                settings = None
        return settings

    def _tracking_needs_a_server(self, data: Mapping, channels: dict[str, Channel],
                                 server: ServerSettings | None) -> None:
        """`tracking: on` writes `{server.base_url}/c/...` into every email: without a base_url
        there is no address to write (SIGNALS.md 1).  The secret may be an unset ${ENV} here
        (`fsl check` in CI); the outbox then holds the sends back and says why."""
        if server is not None and server.base_url:
            return
        node = data.get("channels")
        for name, channel in channels.items():
            spec = node.get(name) if isinstance(node, Mapping) else None
            if getattr(channel.settings, "tracking", False) and isinstance(spec, Mapping):
                self.error(self.key_span(spec, "tracking"),
                           f"channel `{name}` has `tracking: on`, but `server.base_url` is not set",
                           "add `server: {base_url: https://t.example.com, secret: ${FSL_SERVER_SECRET}}` "
                           "to fsl.yaml: tracked links point there")

    def _server(self, data: Mapping) -> ServerSettings | None:
        """`server:`, each invalid setting reported at its key or value (never quoting a secret)."""
        node = self.expect_mapping(data, "server", "settings of fsl serve (base_url, listen, secret, ...)")
        if node is None:
            return None
        settings, problems = validate_server({str(k): _plain(v) for k, v in node.items()})
        for path, message, quote, at_value in problems:
            span, written = self._setting_at(node, path, at_value)
            if quote and written is not None:
                message += f", got {_describe(written)}"
            self.error(span or self.key_span(data, "server"), message)
        return settings

    def _webhooks(self, data: Mapping) -> WebhookSettings | None:
        """`webhooks:`, each invalid setting reported at its key or value (never quoting a secret)."""
        node = self.expect_mapping(data, "webhooks", "the providers whose events fsl serve accepts")
        if node is None:
            return None
        settings, problems = validate_webhooks({str(k): _plain(v) for k, v in node.items()})
        for path, message, quote, at_value in problems:
            span, written = self._setting_at(node, path, at_value)
            if quote and written is not None:
                message += f", got {_describe(written)}"
            self.error(span or self.key_span(data, "webhooks"), message)
        return settings

    def _inbox(self, data: Mapping) -> InboxSettings | None:
        """`inbox:`, each invalid setting reported at its key or value (never quoting the password)."""
        node = self.expect_mapping(data, "inbox", "the IMAP mailbox of replies (host, username, password, ...)")
        if node is None:
            return None
        settings, problems = validate_inbox({str(k): _plain(v) for k, v in node.items()})
        for path, message, quote, at_value in problems:
            span, written = self._setting_at(node, path, at_value)
            if quote and written is not None:
                message += f", got {_describe(written)}"
            self.error(span or self.key_span(data, "inbox"), message)
        if settings is not None and settings.ca_file is not None and not settings.ca_file.is_absolute():
            settings = settings.model_copy(update={"ca_file": (self.root / settings.ca_file).resolve()})
        return settings

    def _setting_at(self, spec: Mapping, path: tuple, at_value: bool) -> tuple[Span | None, Any]:
        """The span of the key (or value) at `path` below a channel, and the value as written."""
        node: Any = spec
        parent, key = None, None
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                break
            parent, key, node = node, part, node[part]
        if parent is None:
            return None, None
        if at_value and not isinstance(node, (Mapping, list)):
            return self.value_span(parent, key), node
        return self.key_span(parent, key), None

    def _defaults(self, data: Mapping) -> Defaults | None:
        """`defaults: |` and FSL lines: parsed where they stand in the file (syntax/defaults.py)."""
        value = data.get("defaults")
        if value is None:
            return None
        if not isinstance(value, LiteralScalarString):
            self.error(self.value_span(data, "defaults"),
                       "`defaults` must be FSL text in a literal block: `defaults: |` and then one setting "
                       "or rule per line, indented", "write it as `defaults: |`")
            return None
        if not value.strip():
            return None
        key_line = self.key_span(data, "defaults").line - 1  # (ruamel's position, 0-based)
        defaults, diags = parse_defaults(self.text, key_line, len(value.splitlines()), self.file)
        self.diags.extend(diags)
        return defaults

    def _caps(self, data: Mapping, channels: dict[str, Channel]) -> list[GlobalCap]:
        node = data.get("caps")
        if node is None:
            return []
        if not isinstance(node, list):
            self.error(self.value_span(data, "caps"), "`caps` must be a list such as [{limit: 3, per: 7 days}]")
            return []
        caps: list[GlobalCap] = []
        for index, item in enumerate(node):
            if not isinstance(item, Mapping):
                self.error(self.item_span(node, index), "a cap must be a mapping {channel: NAME, limit: N, per: DURATION}")
                continue
            before = len(self.diags)
            self.check_keys(item, _CAP_KEYS, "a cap")
            if "limit" not in item:
                self.error(self.item_span(node, index), "a cap needs `limit: N` (a positive integer)")
            if "per" not in item:
                self.error(self.item_span(node, index), "a cap needs `per: DURATION`, such as `per: 7 days` (or `per: calendar week`)")
            limit = self.integer(item, "limit", 1, 1)
            calendar = _CALENDAR.fullmatch(item["per"].strip()) if isinstance(item.get("per"), str) else None
            per = self._duration(item, "per") if "per" in item and calendar is None else None
            channel = self.string(item, "channel", None)
            if channel is not None and channel not in channels:
                guess = did_you_mean(channel, channels)
                self.error(self.value_span(item, "channel"),
                           f"cap on unknown channel `{channel}`; declared channels: {', '.join(channels) or 'none'}",
                           f"did you mean `{guess}`?" if guess else None)
            if len(self.diags) == before and calendar is not None:
                period: Literal["week", "month"] = "week" if calendar.group(1) == "week" else "month"
                caps.append(GlobalCap(channel=channel, limit=limit, calendar=period))
            elif len(self.diags) == before and per is not None:
                caps.append(GlobalCap(channel=channel, limit=limit, per=per))
        return caps

    def _duration(self, parent: Mapping, key: str) -> Duration | None:
        raw = parent.get(key)
        expected = f"`{key}` must be a duration such as '7 days', '30 minutes' or '4h'"
        if not isinstance(raw, str):
            self.error(self.value_span(parent, key), f"{expected}, got {_describe(raw)}")
            return None
        value = substitute_env(raw)
        if value is None:
            return None  # unset env var: not an error while authoring
        try:
            duration = parse_duration(value)
        except ValueError as exc:
            # parse_duration quotes its input: only show it when it is the text as written.
            self.error(self.value_span(parent, key),
                       f"`{key}`: {exc}" if value == raw else f"{expected} (after substituting {raw})")
            return None
        if duration.is_zero:
            self.error(self.value_span(parent, key), f"`{key}` must be a positive duration, got {raw!r}")
            return None
        return duration

    def _llm(self, data: Mapping) -> LLMConfig | None:
        node = self.expect_mapping(data, "llm", "settings (base_url, model, api_key, timeout, concurrency)")
        if node is None:
            return None
        self.check_keys(node, _LLM_KEYS, "llm")
        timeout = 30.0
        raw = node.get("timeout")
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            if raw <= 0:
                self.error(self.value_span(node, "timeout"), "`timeout` must be positive, such as `30 seconds`")
            timeout = float(raw)
        elif raw is not None:
            duration = self._duration(node, "timeout")
            if duration is not None:
                seconds = duration.nominal_seconds()
                if seconds is None:
                    self.error(self.value_span(node, "timeout"), "`timeout` cannot be in business days")
                else:
                    timeout = float(seconds)
        return LLMConfig(
            base_url=self.string(node, "base_url", None),
            model=self.string(node, "model", None),
            api_key=self.string(node, "api_key", None),
            timeout_seconds=timeout,
            concurrency=self.integer(node, "concurrency", 8, 1),
            max_retries=self.integer(node, "max_retries", 2, 0),
        )


def _valid_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _length(value: Any) -> int:
    return len(str(value)) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else 1


def _describe(value: Any) -> str:
    """A short description of a YAML value for messages (as written, never substituted)."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value if not isinstance(value, str) else str(value))
