"""The report as one self-contained HTML page (`fsl report --html FILE`).

No network at all: CSS and the chart renderer are inlined (assets.py), the
charts' data is a JSON block (charts.py), and every figure is also in a
plain table, so the page reads without JavaScript and prints.  The page
only formats a `Report`.
"""
from __future__ import annotations

import json
from html import escape

from . import assets
from .charts import (Chart, engagement_chart, execution_charts, funnel_chart, outcome_color, outcomes_chart,
                     winback_charts)
from .fmt import DASH, by_key, days, duration_hours, money, pct
from .model import Engagement, ExperimentStats, PlaybookStats, Rate, RateRow, Report, Winback


class Raw(str):
    """Markup that is already escaped."""


def _e(v: object) -> str:
    return v if isinstance(v, Raw) else escape(str(v))


def _share(n: int, d: int) -> Raw:
    return Raw(f"{n}<span class=share>{escape(pct(n / d))}</span>" if d else str(n))


def _table(headers: list[str], rows: list[list], total: list | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    foot = ("<tr class=total>" + "".join(f"<td>{_e(c)}</td>" for c in total) + "</tr>") if total else ""
    return f"<div class=tablewrap><table><thead><tr>{head}</tr></thead><tbody>{body}{foot}</tbody></table></div>"


def _figure(c: Chart) -> str:
    legend = ""
    if c.legend:
        legend = "<div class=legend>" + "".join(
            f"<span><i style='background:{escape(col)}'></i>{escape(name)}</span>" for name, col in c.legend) + "</div>"
    return (f"<figure data-chart='{escape(c.id)}'><figcaption>{escape(c.title)}<span>{escape(c.hint)}</span>"
            f"</figcaption><div class=plot data-name='{escape(c.title)}'></div>{legend}</figure>")


def _lines(d: dict[str, int]) -> Raw:
    """{"email": 9, "sms": 1} as one line per key, to keep table columns narrow."""
    return Raw("<br>".join(escape(f"{k} {v}") for k, v in d.items()) or DASH)


def _kpi(label: str, value: str, sub: str = "") -> str:
    return (f"<div class=kpi><div class=label>{escape(label)}</div><div class=value>{escape(value)}</div>"
            f"<div class=sub>{escape(sub)}</div></div>")


def _stat(label: str, value: str, sub: str = "") -> str:
    return (f"<div class=stat><div class=label>{escape(label)}</div><div class=value>{escape(value)}</div>"
            f"<div class=sub>{escape(sub)}</div></div>")


# ------------------------------------------------------------------ parts

def _header(r: Report) -> str:
    if r.since or r.until:
        period = f"Enrollments started <b>{escape(r.since or 'any time')} → {escape(r.until or 'now')}</b>"
    else:
        period = "<b>All enrollments</b>"
    scope = f" · playbook <b>{escape(r.playbook)}</b>" if r.playbook else ""
    return (f"<header class=top><div class=wrap><div class=brand>FSL · Follow-up report</div>"
            f"<h1>Funnels, win-back and follow-up execution</h1>"
            f"<p class=meta>{period}{scope} · data as of <b>{escape(r.as_of)}</b>"
            f" · {escape(r.source)}</p></div></header>")


def _kpis(r: Report) -> str:
    enrolled = sum(p.enrolled for p in r.playbooks)
    messaged = sum(p.messaged for p in r.playbooks)
    replied = sum(p.engagement.replied for p in r.playbooks)
    sends: dict[str, int] = {}
    for p in r.playbooks:
        for k, v in p.sent.items():
            sends[k] = sends.get(k, 0) + v
    ex = r.execution
    cards = [_kpi("Enrolled", str(enrolled), f"{len(r.playbooks)} playbook" + ("s" if len(r.playbooks) != 1 else "")),
             _kpi("Messages sent", str(sum(sends.values())), by_key(sends)),
             _kpi("Reply rate", pct(replied / messaged) if messaged else DASH, f"{replied} of {messaged} messaged")]
    if r.winback is not None:
        wb = r.winback
        cards += [_kpi("Win-back rate", pct(wb.rate), f"{wb.won_back} of {wb.enrolled} enrollments"),
                  _kpi("Recovered", money(wb.revenue), "revenue from win-backs")]
    cards += [_kpi("On time", pct(ex.total.on_time_rate), f"{ex.total.on_time} of {ex.total.touches} touches"),
              _kpi("Overdue tasks", str(ex.tasks_total.overdue), f"of {ex.tasks_total.created} created")]
    return "<div class=kpis>" + "".join(cards) + "</div>"


def _engagement_cells(e: Engagement, base: int) -> list:
    return [DASH if e.accepted is None else _share(e.accepted, base), _share(e.delivered, base),
            _share(e.opened, base), _share(e.clicked, base),
            _share(e.replied, base), _share(e.bounced, base), _share(e.unsubscribed, base)]


def _playbook(ps: PlaybookStats, funnel: Chart, engagement: Chart) -> str:
    sub = " · ".join(x for x in (ps.description, f"owner {ps.owner}" if ps.owner else None) if x)
    pills = [f"<span class=pill>enrolled <b>{ps.enrolled}</b></span>",
             f"<span class=pill><i class=dot style='background:{outcome_color('active')}'></i>active <b>{ps.active}</b></span>"]
    pills += [f"<span class=pill><i class=dot style='background:{outcome_color(k, j)}'></i>{escape(k)} <b>{v}</b></span>"
              for j, (k, v) in enumerate(ps.outcomes.items())]
    pills.append(f"<span class=pill>median to first reply <b>{escape(duration_hours(ps.median_hours_to_first_reply))}</b></span>")
    headers = ["step", "reached", "runs", "sent", "tasks", "accepted", "delivered", "opened", "clicked", "replied",
               "bounced", "unsub.", "to 1st reply"]
    rows = [[s.name, s.reached, s.executed, _lines(s.sent), _lines(s.tasks), *_engagement_cells(s.engagement, s.messaged),
             duration_hours(s.median_hours_to_first_reply)] for s in ps.steps]
    total = ["all steps", ps.enrolled, sum(s.executed for s in ps.steps), _lines(ps.sent), _lines(ps.tasks),
             *_engagement_cells(ps.engagement, ps.messaged), duration_hours(ps.median_hours_to_first_reply)]
    extra = ["Shares are of the enrollments messaged; accepted: the mail server took the message (SMTP 250), "
             "delivered: the provider confirmed it"]
    if ps.engagement.clicked_by_link:
        extra.append(f"Clicks by link: {by_key(ps.engagement.clicked_by_link)}")
    if ps.engagement.replied_by_kind:
        extra.append(f"Replies by kind: {by_key(ps.engagement.replied_by_kind)}")
    if ps.engagement.opened_machine or ps.engagement.clicked_machine:
        extra.append(f"Machines (scanners, privacy proxies), not counted above: opened "
                     f"{ps.engagement.opened_machine}, clicked {ps.engagement.clicked_machine}")
    more = f"<p class='muted small'>{escape(' · '.join(extra))}</p>" if extra else ""
    return (f"<article class=card id='pb-{escape(ps.name)}'><header><h3><code>{escape(ps.name)}</code></h3>"
            f"<p>{escape(sub)}</p><div class=pills>{''.join(pills)}</div></header>"
            f"<div class=grid2>{_figure(funnel)}{_figure(engagement)}</div>"
            f"{_table(headers, rows, total)}{more}</article>")


def _rate_rows(rows: list[RateRow], last_touch: bool = False) -> list[list]:
    return [[r.key, r.enrolled, r.won_back, pct(r.rate), money(r.revenue),
             *([r.last_touch_wins or 0] if last_touch else [])] for r in rows]


def _winback(r: Report, charts: list[Chart]) -> str:
    wb: Winback = r.winback  # type: ignore[assignment]
    rechurn = f"{wb.rechurned} of {wb.won_back}" + (f"; {wb.rechurn_pending} still within 90 days" if wb.rechurn_pending else "")
    stats = "".join([_stat("Win-back rate", pct(wb.rate), f"{wb.won_back} of {wb.enrolled}"),
                     _stat("Revenue recovered", money(wb.revenue), "purchased within 90 days"),
                     _stat("Median time to win back", days(wb.median_days_to_win_back)),
                     _stat("Re-churn within 90 days", pct(wb.rechurn_rate), rechurn)])
    cols = ["", "enrolled", "won back", "rate", "revenue"]
    tables = [(f"By segment: {d.name}", _table([d.name, *cols[1:]], _rate_rows(d.rows))) for d in wb.by_segment]
    tables.append(("By channel", _table(["channel", *cols[1:], "last touch"], _rate_rows(wb.by_channel, True))))
    tables.append(("By offer depth", _table(["deepest offer", *cols[1:]], _rate_rows(wb.by_offer))))
    if len(wb.by_playbook) > 1:
        tables.insert(0, ("By playbook", _table(["playbook", *cols[1:]], _rate_rows(wb.by_playbook))))
    seg_note = "" if wb.by_segment else f"<p class=note>Segments: {escape(wb.segment_source)}</p>"
    grid = "".join(_figure(c) for c in charts)
    tbls = "".join(f"<div><h4 class=sub>{escape(t)}</h4>{html}</div>" for t, html in tables)
    return (f"<section id=winback><h2>Win-back</h2><p class=lead>Playbooks that win back: "
            f"{escape(', '.join(wb.playbooks))}. Segments are the playbook's <code>let</code> values.</p>"
            f"<div class=card><div class=stats>{stats}</div><div class=grid3>{grid}</div>{seg_note}"
            f"<div class=grid2>{tbls}</div></div></section>")


def _execution(r: Report, charts: list[Chart]) -> str:
    ex = r.execution

    def row(x):
        return [x.playbook, x.touches, _share(x.on_time, x.touches), x.deferred, x.by_cause.get("window", 0),
                x.by_cause.get("holiday", 0), x.by_cause.get("cap", 0), duration_hours(x.median_delay_hours)]

    t1 = _table(["playbook", "touches", "on time", "deferred", "window", "holiday", "cap", "median delay"],
                [row(x) for x in ex.by_playbook], row(ex.total))

    def trow(o):
        overdue = Raw(f"<span style='color:#dc2626;font-weight:650'>{o.overdue}</span>") if o.overdue else o.overdue
        return [o.owner, o.created, o.completed, o.on_time, o.late, o.open, overdue, pct(o.completion_rate)]

    t2 = _table(["owner", "created", "completed", "on time", "late", "open", "overdue", "done"],
                [trow(o) for o in ex.tasks], trow(ex.tasks_total))
    return (f"<section id=execution><h2>Follow-up execution</h2><p class=lead>What ran in the period: touches "
            f"(sends and tasks) on time or deferred, and the tasks people were given.</p>"
            f"<div class=card><div class=grid3>{''.join(_figure(c) for c in charts)}</div>"
            f"<h4 class=sub>Touches by playbook</h4>{t1}<h4 class=sub>Tasks by owner</h4>{t2}</div></section>")


def _rate(r: Rate) -> Raw:
    if r.rate is None:
        return Raw(str(r.count))
    return Raw(f"{r.count}<span class=share>{escape(pct(r.rate))}</span><br>"
               f"<span class='muted small'>{escape(pct(r.low, 1))}–{escape(pct(r.high, 1))}</span>")


def _experiment(ex: ExperimentStats) -> str:
    d = ex.decision
    if d.state == "decided":
        state = f"Decided: {d.winner} wins, at {d.decided_at}" + (
            f" (always-valid p = {d.p_value:.4g} ≤ α = {d.alpha:g})" if d.p_value is not None else "")
    elif d.state == "running":
        state = f"Running: no winner yet (always-valid p = {d.p_value:.4g}, needs ≤ α = {d.alpha:g})"
    else:
        state = "Fixed percentages (no pick winner)"
    pick = (f"pick winner by {ex.pick_event} within {ex.within} at {ex.confidence:g}%" if ex.pick_event else "")
    outcomes = sorted({k for v in ex.variants for k in v.outcomes})
    rows = [[Raw(f"<b>{escape(v.name)}</b> ★") if d.winner == v.name else v.name,
             f"{v.percent:g}%" if v.percent is not None else DASH, v.enrolled, v.sent,
             _rate(v.opened), _rate(v.clicked), _rate(v.replied),
             *(_rate(v.outcomes[k]) if k in v.outcomes else 0 for k in outcomes),
             *([v.counted, v.successes] if ex.pick_event else [])] for v in ex.variants]
    table = _table(["variant", "share", "enrolled", "sent", "opened", "clicked", "replied", *outcomes,
                    *(["counted", "hits"] if ex.pick_event else [])], rows)
    return (f"<div class=card><h3>{escape(ex.playbook)} · split {escape(ex.split)}</h3>"
            f"<p class='muted small'>{escape(' · '.join(x for x in (f'step {ex.step}' if ex.step else '', pick) if x))}"
            f"</p><p>{escape(state)}</p>{table}</div>")


def _experiments(r: Report) -> str:
    return ("<section id=experiments><h2>Experiments</h2><p class=lead>Each split's variants side by side: "
            "opened, clicked and replied are sends a person engaged with (machine opens and clicks and automatic "
            "replies do not count), outcomes are of the variant's enrollments; every rate with its 95% Wilson "
            "interval.</p>" + "".join(_experiment(ex) for ex in r.experiments) + "</section>")


def _timeline(r: Report, chart: Chart) -> str:
    names = sorted({k for w in r.outcomes_by_week for k in w.outcomes})
    rows = [[w.week, *[w.outcomes.get(n, 0) for n in names], sum(w.outcomes.values())] for w in r.outcomes_by_week]
    return (f"<section id=timeline><h2>Outcomes over time</h2><p class=lead>Enrollments that ended in the period, "
            f"by week.</p><div class=card><div class=grid2>{_figure(chart)}"
            f"<div>{_table(['week of', *names, 'total'], rows)}</div></div></div></section>")


DEFINITIONS = [
    ("Cohort", "Playbook, step and win-back figures follow the enrollments that started in the period, up to the end of the data."),
    ("Activity", "Execution and outcomes over time count what happened in the period."),
    ("Engagement", "Enrollments whose message got the event (once each); shares are of the enrollments messaged."),
    ("First reply", "A reply of kind human (or with no kind), timed from the first send."),
    ("Win-back rate", "Enrollments that ended won_back, of those enrolled."),
    ("Revenue recovered", "The amount of purchased events from the enrollment's start to 90 days after its win-back."),
    ("Re-churn", "A contact won back who churns again within 90 days: re-enters a win-back playbook, or is set to churned."),
    ("On time", "A touch whose step run was never deferred by the window, a holiday or a cap."),
    ("Overdue", "A task not completed (no task_completed event) whose due time has passed."),
]


def render_html(report: Report) -> str:
    pb_charts: dict[str, dict] = {}
    parts = []
    for i, ps in enumerate(report.playbooks):
        fc, ec = funnel_chart(i, ps), engagement_chart(i, ps)
        pb_charts[fc.id], pb_charts[ec.id] = fc.spec, ec.spec
        parts.append(_playbook(ps, fc, ec))
    wb = winback_charts(report)
    ex = execution_charts(report)
    tl = outcomes_chart(report)
    charts = {**pb_charts, **{c.id: c.spec for c in [*wb, *ex, tl]}}
    toc = ["<a href='#playbooks'>Playbooks</a>"] + (["<a href='#winback'>Win-back</a>"] if report.winback else []) \
        + (["<a href='#experiments'>Experiments</a>"] if report.experiments else []) \
        + ["<a href='#timeline'>Outcomes over time</a>", "<a href='#execution'>Execution</a>",
           "<a href='#definitions'>Definitions</a>"]
    notes = "".join(f"<p class=note>{escape(n)}</p>" for n in report.notes)
    playbooks = "".join(parts) or "<div class=card><p class=muted>No playbook in the data.</p></div>"
    defs = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in DEFINITIONS)
    data = json.dumps({"charts": charts}, separators=(",", ":")).replace("<", "\\u003c")
    title = "FSL report" + (f" · {report.playbook}" if report.playbook else "")
    return (
        "<!doctype html>\n<html lang=en data-errors=0 data-rendered=0><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><script>{assets.ERROR_HOOK}</script><style>{assets.CSS}</style></head><body>"
        f"{_header(report)}<main class=wrap>{_kpis(report)}<nav class=toc>{''.join(toc)}</nav>{notes}"
        f"<section id=playbooks><h2>Playbooks</h2><p class=lead>Per playbook and step: who was enrolled, how far they "
        f"got, and what they did with each message.</p>{playbooks}</section>"
        f"{_winback(report, wb) if report.winback else ''}"
        f"{_experiments(report) if report.experiments else ''}{_timeline(report, tl)}{_execution(report, ex)}"
        f"<section id=definitions><h2>Definitions</h2><div class=card><dl class=defs>{defs}</dl></div></section>"
        f"<footer>Generated by <code>fsl report</code> · every figure is also in JSON with <code>--format json</code>"
        f"</footer></main><script type='application/json' id=report-data>{data}</script>"
        f"<script>{assets.RENDERER}</script></body></html>\n")
