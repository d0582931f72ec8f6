"""The plan: a playbook as an executable graph (pydantic v2, frozen).

The runtime executes plans, never the AST.  A plan is deterministic JSON:
the same source gives the same bytes.  Its `hash` covers the meaning only:
every `line` field and the `source` block are left out of it, so formatting
and comments never change the hash (CLI.md `fsl compile`).

Expressions are JSON trees, small enough to read in a diff:

    {"lit": V}                      string, number, bool or null
    {"pct": 10}                     a percentage
    {"dur": [2, "days"]}            a duration
    {"time": 540}                   a time of day, minutes after midnight
    {"date": "2026-12-24"}
    {"path": ["contact", "tier"]}   a field of contact/deal/stakeholder/event/vars/enrollment
    {"let": "segment"}              a `let` of the playbook
    {"name": "checkin"}             a step, event or link name given to a function
    {"call": "opened", "args": [...]}
    {"op": "and", "args": [a, b]}   and or not neg == != < <= > >= in "not in" + - * /
    {"if": [cond, then, else]}
    {"list": [...]}
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

PLAN_FORMAT = 1

Expr = Any  # a JSON tree as described above


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DurationP(_Frozen):
    amount: int
    unit: Literal["seconds", "minutes", "hours", "days", "weeks", "business_days"]


class WindowRangeP(_Frozen):
    days: list[int]  # 0 = Monday ... 6 = Sunday
    start: int  # minutes after local midnight, inclusive
    end: int  # exclusive


class EnrollOnP(_Frozen):
    event: str
    for_each_stakeholder: bool = False
    where: Expr | None = None
    line: int = 0


class EnrollWhenP(_Frozen):
    cond: Expr
    check_every: DurationP | None = None
    check_cron: str | None = None
    uses_deal: bool = False  # candidates are contact-deal links (RUNTIME.md section 2)
    line: int = 0


class TimezoneP(_Frozen):
    expr: Expr | None = None  # None: only the default
    default: str | None = None


class CapP(_Frozen):
    channel: str | None = None
    limit: int
    per: DurationP | None = None  # None for a `total` cap (or a calendar one)
    across_deal: bool = False
    calendar: Literal["week", "month"] | None = None  # (v1.1) per calendar week/month in the contact's zone
    line: int = 0

    @model_serializer(mode="wrap")
    def _v1_shape(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # a v1 cap keeps its v1 JSON, so plans written before v1.1 keep their hash
        data: dict[str, Any] = handler(self)
        if data.get("calendar") is None:
            data.pop("calendar", None)
        return data


class HolidaysP(_Frozen):
    """(v1.1) `skip holidays EXPR [default CODE]`: the calendar named by the
    contact's value, else the default (None: no holidays for that contact)."""

    expr: Expr
    default: str | None = None
    line: int = 0  # of the `skip holidays` setting (0: inherited from fsl.yaml's defaults)


class StopOnP(_Frozen):
    event: str
    across_deal: bool = False
    where: Expr | None = None
    outcome: str = "stopped"
    line: int = 0


class StopWhenP(_Frozen):
    cond: Expr
    outcome: str = "stopped"
    line: int = 0


class PauseOnP(_Frozen):
    event: str
    where: Expr | None = None
    for_: DurationP | None = Field(default=None, alias="for")
    until: Expr | None = None
    default: DurationP | None = None
    line: int = 0

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# ------------------------------------------------------------------ actions

class SendN(_Frozen):
    kind: Literal["send"] = "send"
    channel: str
    template: str
    to: Expr | None = None
    with_: dict[str, Expr] = Field(default_factory=dict, alias="with")
    line: int = 0

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class TaskN(_Frozen):
    kind: Literal["task"] = "task"
    task: str  # call, linkedin, escalation, ...
    text: str
    to: Expr | None = None
    due: DurationP | None = None
    line: int = 0


class NotifyN(_Frozen):
    kind: Literal["notify"] = "notify"
    to: Expr
    text: str
    line: int = 0


class OfferN(_Frozen):
    kind: Literal["offer"] = "offer"
    percent: float
    expires: DurationP | None = None
    line: int = 0


class SetN(_Frozen):
    kind: Literal["set"] = "set"
    path: list[str]
    value: Expr
    line: int = 0


class WaitN(_Frozen):
    kind: Literal["wait"] = "wait"
    duration: DurationP
    line: int = 0


class WaitForN(_Frozen):
    kind: Literal["wait_for"] = "wait_for"
    duration: DurationP
    event: str
    where: Expr | None = None
    line: int = 0


class GotoN(_Frozen):
    kind: Literal["goto"] = "goto"
    step: str
    line: int = 0


class EndN(_Frozen):
    kind: Literal["end"] = "end"
    outcome: str = "completed"
    line: int = 0


class BranchP(_Frozen):
    cond: Expr
    body: list["Node"]
    line: int = 0


class IfN(_Frozen):
    kind: Literal["if"] = "if"
    branches: list[BranchP]
    orelse: list["Node"] | None = None
    line: int = 0


class CaseP(_Frozen):
    values: list[Any]
    body: list["Node"]
    line: int = 0


class MatchN(_Frozen):
    kind: Literal["match"] = "match"
    subject: Expr
    cases: list[CaseP]
    orelse: list["Node"] | None = None
    line: int = 0


class PickP(_Frozen):
    """`pick winner by EVENT within DURATION confidence PERCENT` (v1.1), defaults filled in."""

    event: str
    within: DurationP  # default 7 days
    confidence: float  # a percentage, default 95


class VariantP(_Frozen):
    name: str
    percent: float
    body: list["Node"]
    line: int = 0


class SplitN(_Frozen):
    """(v1.1) an experiment: the variants take consecutive bucket ranges in this order."""

    kind: Literal["split"] = "split"
    name: str
    variants: list[VariantP]
    pick: PickP | None = None
    line: int = 0


Node = Annotated[
    Union[SendN, TaskN, NotifyN, OfferN, SetN, WaitN, WaitForN, GotoN, EndN, IfN, MatchN, SplitN],
    Field(discriminator="kind"),
]


class TimingP(_Frozen):
    kind: Literal["next", "after", "at_day", "at_cron"] = "next"
    after: DurationP | None = None
    day: int | None = None
    minute: int | None = None  # at day N HH:MM
    cron: str | None = None
    every: DurationP | None = None
    max: int | None = None


class BestTimeP(_Frozen):
    """(v1.1) `send at best time within DURATION` (SIGNALS.md 4), the default filled in."""

    within: DurationP


class StepP(_Frozen):
    name: str
    timing: TimingP
    body: list[Node]
    sends: list[str] = Field(default_factory=list)  # channels this step may send on
    line: int = 0


class SourceP(_Frozen):
    file: str
    line: int


class InheritedP(_Frozen):
    """(v1.1) a setting or rule the playbook took from fsl.yaml's `defaults`, as written there."""

    text: str
    line: int = 0  # its line in fsl.yaml


class Plan(_Frozen):
    """One playbook, compiled."""

    format: int = PLAN_FORMAT
    playbook: str
    description: str | None = None
    owner: str | None = None
    priority: int = 50
    enroll_on: list[EnrollOnP] = Field(default_factory=list)
    enroll_when: EnrollWhenP | None = None
    reenroll_after: DurationP | None = None  # None: reenroll never
    timezone: TimezoneP = Field(default_factory=TimezoneP)
    window: list[WindowRangeP] | None = None
    holidays: str | HolidaysP | None = None  # a fixed calendar ("US", "US-CA") or per contact
    offer_max: float | None = None
    best_time: BestTimeP | None = None  # (v1.1) left out of the JSON when None (see _v1_shape)
    caps: list[CapP] = Field(default_factory=list)
    stop_on: list[StopOnP] = Field(default_factory=list)
    stop_when: list[StopWhenP] = Field(default_factory=list)
    pause_on: list[PauseOnP] = Field(default_factory=list)
    lets: dict[str, Expr] = Field(default_factory=dict)
    steps: list[StepP]
    # (v1.1) what came from `defaults`: a record for people, like `source`, so
    # not hashed (what it does is in the fields above, which are)
    inherited: list[InheritedP] = Field(default_factory=list)
    source: SourceP | None = None
    hash: str = ""

    @model_serializer(mode="wrap")
    def _v1_shape(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # a playbook without v1.1 settings keeps its v1 JSON, so its hash does not change
        data: dict[str, Any] = handler(self)
        if not data.get("inherited"):
            data.pop("inherited", None)
        if data.get("best_time") is None:
            data.pop("best_time", None)
        return data

    def step_index(self, name: str) -> int | None:
        for i, s in enumerate(self.steps):
            if s.name == name:
                return i
        return None


for _m in (BranchP, IfN, CaseP, MatchN, VariantP, SplitN, StepP):
    _m.model_rebuild()
