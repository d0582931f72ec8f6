"""The report as data: pydantic models, so `--format json` is `model_dump`.

Every figure the terminal tables and the HTML page show lives here, and only
here: the renderers format, they never compute.  Counts are exact integers;
rates are plain ratios (`won_back / enrolled`), None when the denominator is
zero; durations are hours (or days for win-back) as floats.  The meaning of
each figure is written in fsl/report/README.md.
"""
from __future__ import annotations

from pydantic import BaseModel, Field


def ratio(num: int | float, den: int | float) -> float | None:
    """num / den, or None when there is nothing to divide by."""
    return num / den if den else None


class Engagement(BaseModel):
    """How many enrollments got each engagement event (counted once per
    enrollment, or per enrollment and step at step level).

    `accepted`: a channel took the message (SMTP 250, webhook 2xx), read from
    the outbox; None where nothing is delivered (a simulation).  `delivered`:
    the provider confirmed delivery (a `delivered` event), which many
    set-ups never send."""

    accepted: int | None = None
    delivered: int = 0
    opened: int = 0  # people: `opened` events with `machine` false or absent (SIGNALS.md 1)
    clicked: int = 0
    clicked_by_link: dict[str, int] = Field(default_factory=dict)
    # machines apart: enrollments whose message a scanner or privacy proxy fetched (not counted above)
    opened_machine: int = 0
    clicked_machine: int = 0
    replied: int = 0
    replied_by_kind: dict[str, int] = Field(default_factory=dict)
    bounced: int = 0
    unsubscribed: int = 0


class StepStats(BaseModel):
    name: str
    reached: int = 0  # enrollments that executed the step at least once
    executed: int = 0  # executions (an `every` step counts each time; resumed segments do not)
    messaged: int = 0  # enrollments this step sent at least one message to
    sent: dict[str, int] = Field(default_factory=dict)  # sends by channel
    tasks: dict[str, int] = Field(default_factory=dict)  # tasks by kind
    engagement: Engagement = Field(default_factory=Engagement)
    median_hours_to_first_reply: float | None = None  # from this step's send to the first reply to it


class FunnelStage(BaseModel):
    stage: str  # "enrolled", then each step in plan order
    count: int
    rate: float | None  # of enrolled


class PlaybookStats(BaseModel):
    name: str
    description: str | None = None
    owner: str | None = None
    enrolled: int = 0
    active: int = 0  # still running at the report's as-of instant
    outcomes: dict[str, int] = Field(default_factory=dict)  # ended enrollments by outcome
    messaged: int = 0
    sent: dict[str, int] = Field(default_factory=dict)
    tasks: dict[str, int] = Field(default_factory=dict)
    engagement: Engagement = Field(default_factory=Engagement)
    median_hours_to_first_reply: float | None = None  # from the enrollment's first send
    replies_timed: int = 0  # enrollments the median is taken over
    steps: list[StepStats] = Field(default_factory=list)
    funnel: list[FunnelStage] = Field(default_factory=list)


class RateRow(BaseModel):
    """Win-back figures for one slice (a segment value, a channel, an offer depth, a playbook)."""

    key: str
    enrolled: int = 0
    won_back: int = 0
    rate: float | None = None
    revenue: float = 0
    last_touch_wins: int | None = None  # channels only: wins whose last send came on this channel


class SegmentDimension(BaseModel):
    name: str  # the `let` name
    rows: list[RateRow] = Field(default_factory=list)


class Winback(BaseModel):
    playbooks: list[str] = Field(default_factory=list)
    enrolled: int = 0
    won_back: int = 0
    rate: float | None = None
    revenue: float = 0
    median_days_to_win_back: float | None = None
    rechurned: int = 0
    rechurn_rate: float | None = None  # rechurned / won_back
    rechurn_pending: int = 0  # won back less than 90 days before as-of and not re-churned (yet)
    segment_source: str = "evaluated"  # how segments were found (README.md)
    by_playbook: list[RateRow] = Field(default_factory=list)
    by_segment: list[SegmentDimension] = Field(default_factory=list)
    by_channel: list[RateRow] = Field(default_factory=list)
    by_offer: list[RateRow] = Field(default_factory=list)


class ExecutionRow(BaseModel):
    playbook: str
    touches: int = 0  # sends and tasks executed
    on_time: int = 0
    deferred: int = 0
    by_cause: dict[str, int] = Field(default_factory=dict)  # window, holiday, cap: touches each cause held
    on_time_rate: float | None = None
    median_delay_hours: float | None = None  # deferred touches: from the original due time


class OwnerTasks(BaseModel):
    owner: str
    created: int = 0
    completed: int = 0
    on_time: int = 0  # completed by their due time
    late: int = 0  # completed after it
    open: int = 0  # not completed, not yet due
    overdue: int = 0  # not completed, past due at as-of
    completion_rate: float | None = None  # completed / created


class Execution(BaseModel):
    total: ExecutionRow = Field(default_factory=lambda: ExecutionRow(playbook="all"))
    by_playbook: list[ExecutionRow] = Field(default_factory=list)
    tasks: list[OwnerTasks] = Field(default_factory=list)
    tasks_total: OwnerTasks = Field(default_factory=lambda: OwnerTasks(owner="all"))


class OutcomeWeek(BaseModel):
    week: str  # the Monday (UTC) that starts the week, YYYY-MM-DD
    outcomes: dict[str, int] = Field(default_factory=dict)


class Rate(BaseModel):
    """count / of, with its 95% Wilson score interval (None when `of` is 0)."""

    count: int = 0
    of: int = 0
    rate: float | None = None
    low: float | None = None
    high: float | None = None


class VariantStats(BaseModel):
    name: str
    percent: float | None = None  # as written (None without the plan)
    enrolled: int = 0  # enrollments (of the cohort) that took this variant
    sent: int = 0  # sends the variant made
    opened: Rate = Field(default_factory=Rate)  # sends with a human open, of sent
    clicked: Rate = Field(default_factory=Rate)  # sends with a human click, of sent
    replied: Rate = Field(default_factory=Rate)  # sends with a human reply, of sent
    outcomes: dict[str, Rate] = Field(default_factory=dict)  # ended enrollments by outcome, of enrolled
    counted: int = 0  # sends the sequential test counts at the as-of instant (pick winner only)
    successes: int = 0  # of those, with the event within the window


class SplitDecisionStats(BaseModel):
    state: str  # "decided", "running" (pick winner, no winner yet) or "fixed" (no pick winner)
    winner: str | None = None
    decided_at: str | None = None
    p_value: float | None = None  # always-valid p-value: at the decision, or at the as-of instant
    alpha: float | None = None
    figures: dict = Field(default_factory=dict)  # what was recorded with the decision


class ExperimentStats(BaseModel):
    playbook: str
    split: str
    step: str | None = None
    pick_event: str | None = None
    within: str | None = None
    confidence: float | None = None
    variants: list[VariantStats] = Field(default_factory=list)
    decision: SplitDecisionStats


class Report(BaseModel):
    source: str
    as_of: str  # the instant the data runs up to (ISO, Z)
    since: str | None = None
    until: str | None = None
    playbook: str | None = None  # the --playbook filter
    playbooks: list[PlaybookStats] = Field(default_factory=list)
    winback: Winback | None = None
    execution: Execution = Field(default_factory=Execution)
    outcomes_by_week: list[OutcomeWeek] = Field(default_factory=list)
    experiments: list[ExperimentStats] = Field(default_factory=list)  # v1.1 splits
    notes: list[str] = Field(default_factory=list)
