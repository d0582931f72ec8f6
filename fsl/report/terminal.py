"""The report as rich tables on a terminal (`fsl report`, the default format).

One block per playbook (steps with their engagement, outcomes, funnel as
bars), then win-back, execution and outcomes by week.  It only formats a
`Report`; every figure comes from compute.py.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from fsl.humantime import UTC_ZONE, local

from .fmt import DASH, by_key, days, duration_hours, money, pct
from .model import Engagement, ExperimentStats, PlaybookStats, Rate, RateRow, Report, Winback

_BAR = 28  # width of a funnel bar, in cells


def render(report: Report, console: Console, zone: ZoneInfo = UTC_ZONE, experiments: bool = False) -> None:
    """`zone`: the instants of the header are shown in it (`--tz`, the project's).
    `experiments`: the splits' section alone (`fsl report --experiments`)."""
    console.print(_header(report, zone))
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    if experiments:
        if not report.experiments:
            console.print("no experiments: no playbook in the data has a `split`")
        for ex in report.experiments:
            console.print(_experiment(ex, zone))
        return
    for ps in report.playbooks:
        console.print(_playbook(ps, console.width))
    if report.winback is not None:
        console.print(_winback(report.winback))
    console.print(_execution(report))
    if report.outcomes_by_week:
        console.print(_weeks(report))


def _rate(r: Rate) -> str:
    if r.rate is None:
        return f"{r.count}"
    return f"{r.count} {pct(r.rate)}\n[{pct(r.low, 1)}–{pct(r.high, 1)}]"


def _experiment(ex: ExperimentStats, zone: ZoneInfo) -> Table:
    """One split: its variants side by side, then the decision as the caption."""
    d = ex.decision
    pick = (f"pick winner by {ex.pick_event} within {ex.within} at {ex.confidence:g}%"
            if ex.pick_event else "no winner picked (fixed percentages)")
    if d.state == "decided":
        state = f"decided: {d.winner} wins, at {local(d.decided_at or '', zone)}"
        if d.p_value is not None:
            state += f" (always-valid p = {d.p_value:.4g} ≤ α = {d.alpha:g})"
    elif d.state == "running":
        state = f"running: no winner yet (always-valid p = {d.p_value:.4g}, needs ≤ α = {d.alpha:g})"
    else:
        state = "fixed"
    caption = (f"{pick}; {state}.  Rates: of sends (opened, clicked, replied: by a person) or of "
               "enrollments (outcomes), with 95% Wilson intervals")
    outcomes = sorted({k for v in ex.variants for k in v.outcomes})
    t = _table(f"{ex.playbook} · split {ex.split}" + (f" (step {ex.step})" if ex.step else ""),
               "variant", "share", "enrolled", "sent", "opened", "clicked", "replied", *outcomes,
               *(["counted", "hits"] if ex.pick_event else []), caption=caption)
    for v in ex.variants:
        name: str | Text = Text(v.name, style="bold green") if d.winner == v.name else v.name
        t.add_row(name, f"{v.percent:g}%" if v.percent is not None else DASH, str(v.enrolled), str(v.sent),
                  _rate(v.opened), _rate(v.clicked), _rate(v.replied),
                  *(_rate(v.outcomes[k]) if k in v.outcomes else "0" for k in outcomes),
                  *([str(v.counted), str(v.successes)] if ex.pick_event else []))
    return t


def _header(r: Report, zone: ZoneInfo) -> Panel:
    since = local(r.since, zone) if r.since else "the start"
    until = local(r.until, zone) if r.until else "the end of the data"
    period = f"{since} → {until}" if r.since or r.until else "all"
    text = Text.assemble(("FSL report", "bold"), f"   {r.source}\n",
                         ("period ", "dim"), period, ("   data as of ", "dim"), local(r.as_of, zone),
                         *((("   playbook ", "dim"), r.playbook) if r.playbook else ()))
    return Panel(text, box=box.ROUNDED, border_style="cyan")


def _table(title: str, *columns: str, caption: str | None = None) -> Table:
    t = Table(title=title, title_justify="left", title_style="bold", caption=caption,
              caption_justify="left", box=box.SIMPLE_HEAD, header_style="bold cyan", pad_edge=False)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right", no_wrap=i == 0)
    return t


def _engagement_cells(e: Engagement, base: int) -> list[str]:
    def cell(n: int | None) -> str:
        if n is None:
            return DASH
        return f"{n} {pct(n / base)}" if base else str(n)

    return [cell(e.accepted), cell(e.delivered), cell(e.opened), cell(e.clicked), cell(e.replied), cell(e.bounced),
            cell(e.unsubscribed)]


def _playbook(ps: PlaybookStats, width: int) -> Group:
    """One table when the terminal is wide enough, else steps and engagement apart."""
    title = f"{ps.name}" + (f" — {ps.description}" if ps.description else "")
    caption = ("engagement: enrollments (share of those messaged); accepted: the mail server took it "
               "(SMTP 250); delivered: the provider confirmed it; to 1st reply: median")
    base = ["step", "reached", "runs", "sent", "tasks"]
    eng = ["accepted", "delivered", "opened", "clicked", "replied", "bounced", "unsub."]
    # step, reached, runs, sent, tasks, the engagement cells, to 1st reply
    Row = tuple[str | Text, str, str, str, str, list[str], str]
    rows: list[Row] = [(s.name, str(s.reached), str(s.executed), by_key(s.sent), by_key(s.tasks),
             _engagement_cells(s.engagement, s.messaged), duration_hours(s.median_hours_to_first_reply))
            for s in ps.steps]
    total: Row = (Text("all steps", style="bold"), str(ps.enrolled), str(sum(s.executed for s in ps.steps)),
             by_key(ps.sent), by_key(ps.tasks), _engagement_cells(ps.engagement, ps.messaged),
             duration_hours(ps.median_hours_to_first_reply))
    if width >= 130:
        tables = [_table(title, *base, *eng, "to 1st reply", caption=caption)]
        for r in [*rows, total]:
            if r is total:
                tables[0].add_section()
            tables[0].add_row(*r[:5], *r[5], r[6], style="bold" if r is total else None)
    else:
        steps = _table(title, *base, "to 1st reply")
        engaged = _table("", "step", *eng, caption=caption)
        for r in [*rows, total]:
            if r is total:
                steps.add_section()
                engaged.add_section()
            style = "bold" if r is total else None
            steps.add_row(*r[:5], r[6], style=style)
            engaged.add_row(r[0], *r[5], style=style)
        tables = [steps, engaged]
    outcomes = " · ".join(f"{k} {v}" for k, v in ps.outcomes.items())
    summary = Text.assemble(("  enrolled ", "dim"), str(ps.enrolled), ("   active ", "dim"), str(ps.active),
                            ("   outcomes ", "dim"), outcomes or DASH)
    details = []
    if ps.engagement.clicked_by_link:
        details.append(f"clicks by link: {by_key(ps.engagement.clicked_by_link)}")
    if ps.engagement.replied_by_kind:
        details.append(f"replies by kind: {by_key(ps.engagement.replied_by_kind)}")
    if ps.engagement.opened_machine or ps.engagement.clicked_machine:
        details.append(f"machines, not counted above: opened {ps.engagement.opened_machine}, "
                       f"clicked {ps.engagement.clicked_machine}")
    extra = [Text("  " + "   ".join(details), style="dim")] if details else []
    return Group(*tables, summary, *extra, _funnel(ps), Text(""))


def _funnel(ps: PlaybookStats) -> Table:
    t = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
    t.add_column(justify="left", style="dim")
    t.add_column(justify="left")
    t.add_column(justify="right")
    top = max((f.count for f in ps.funnel), default=0)
    for f in ps.funnel:
        width = round(_BAR * f.count / top) if top else 0
        t.add_row(f"  {f.stage}", Text("█" * width + "░" * (_BAR - width), style="cyan"),
                  f"{f.count}  {pct(f.rate)}")
    return t


def _rate_table(title: str, rows: list[RateRow], last_touch: bool = False) -> Table:
    cols = ["", "enrolled", "won back", "rate", "revenue"] + (["last-touch wins"] if last_touch else [])
    t = _table(title, *cols)
    for r in rows:
        t.add_row(r.key, str(r.enrolled), str(r.won_back), pct(r.rate), money(r.revenue),
                  *([str(r.last_touch_wins or 0)] if last_touch else []))
    return t


def _winback(wb: Winback) -> Group:
    head = Text.assemble(("Win-back", "bold"), f"  ({', '.join(wb.playbooks)})\n",
                         ("  rate ", "dim"), f"{pct(wb.rate)} ({wb.won_back} of {wb.enrolled})",
                         ("   revenue recovered ", "dim"), money(wb.revenue),
                         ("   median time to win back ", "dim"), days(wb.median_days_to_win_back),
                         ("\n  re-churn within 90 days ", "dim"), f"{pct(wb.rechurn_rate)} ({wb.rechurned} of {wb.won_back}",
                         f"; {wb.rechurn_pending} still inside the 90 days)" if wb.rechurn_pending else ")")
    parts: list = [head]
    if len(wb.by_playbook) > 1:
        parts.append(_rate_table("by playbook", wb.by_playbook))
    for dim in wb.by_segment:
        parts.append(_rate_table(f"by segment: {dim.name}", dim.rows))
    if not wb.by_segment:
        parts.append(Text(f"  segments: {wb.segment_source}", style="dim"))
    parts.append(_rate_table("by channel (enrollments it reached)", wb.by_channel, last_touch=True))
    parts.append(_rate_table("by offer depth (deepest offer sent)", wb.by_offer))
    return Group(*parts, Text(""))


def _execution(r: Report) -> Group:
    ex = r.execution
    t = _table("Follow-up execution (touches that ran in the period)", "playbook", "touches", "on time",
               "deferred", "window", "holiday", "cap", "median delay")
    for row in [*ex.by_playbook, ex.total]:
        style = "bold" if row is ex.total else None
        t.add_row(row.playbook, str(row.touches), f"{row.on_time} ({pct(row.on_time_rate)})", str(row.deferred),
                  str(row.by_cause.get("window", 0)), str(row.by_cause.get("holiday", 0)),
                  str(row.by_cause.get("cap", 0)), duration_hours(row.median_delay_hours), style=style)
        if row is ex.by_playbook[-1]:
            t.add_section()
    tasks = _table("Tasks by owner (created in the period)", "owner", "created", "completed", "on time",
                   "late", "open", "overdue", "done")
    for o in [*ex.tasks, ex.tasks_total]:
        overdue = Text(str(o.overdue), style="bold red" if o.overdue else "")
        tasks.add_row(o.owner, str(o.created), str(o.completed), str(o.on_time), str(o.late), str(o.open),
                      overdue, pct(o.completion_rate), style="bold" if o is ex.tasks_total else None)
        if ex.tasks and o is ex.tasks[-1]:
            tasks.add_section()
    return Group(t, tasks, Text(""))


def _weeks(r: Report) -> Table:
    names = sorted({k for w in r.outcomes_by_week for k in w.outcomes})
    t = _table("Outcomes by week (enrollments that ended)", "week of", *names, "total")
    for w in r.outcomes_by_week:
        t.add_row(w.week, *[str(w.outcomes.get(n, 0)) for n in names], str(sum(w.outcomes.values())))
    return t
