"""Chart specifications for the HTML page, from a `Report`.

A spec is plain JSON that the page's small inlined renderer (assets.py)
turns into SVG: categories, one or more series of values, and, computed
here so the renderer only does geometry, the label printed on each bar and
its hover title.  Two kinds: `columns` (vertical, grouped or stacked) and
`hbars` (horizontal, single or stacked: funnels, per-playbook and per-owner
splits).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .fmt import money, pct
from .model import PlaybookStats, RateRow, Report

PALETTE = ["#4f46e5", "#0d9488", "#f59e0b", "#e11d48", "#0284c7", "#7c3aed", "#65a30d", "#db2777"]
OUTCOME_COLORS = {
    "completed": "#64748b", "converted": "#16a34a", "won_back": "#0d9488", "engaged": "#22c55e",
    "recovered": "#14b8a6", "stopped": "#f59e0b", "unsubscribed": "#a855f7", "cap_reached": "#ef4444",
    "failed": "#b91c1c", "lost": "#94a3b8", "active": "#3b82f6",
}
ENGAGEMENT_COLORS = {"opened": "#6366f1", "clicked": "#0ea5e9", "replied": "#10b981"}
CAUSE_COLORS = {"window": "#f59e0b", "holiday": "#8b5cf6", "cap": "#ef4444"}
TASK_COLORS = {"on time": "#10b981", "late": "#f59e0b", "open": "#93c5fd", "overdue": "#ef4444"}
ON_TIME, DEFERRED, WINBACK = "#10b981", "#f59e0b", "#0d9488"
FUNNEL = ("#4f46e5", "#c7d2fe")


@dataclass
class Chart:
    id: str
    title: str
    hint: str
    spec: dict[str, Any]
    legend: list[tuple[str, str]] = field(default_factory=list)  # (name, colour), for multi-series charts


def outcome_color(name: str, i: int = 0) -> str:
    return OUTCOME_COLORS.get(name, PALETTE[i % len(PALETTE)])


def _series(name: str, color: str, values: list, labels: list[str], titles: list[str], **extra) -> dict:
    return {"name": name, "color": color, "values": values, "labels": labels, "titles": titles, **extra}


def _blend(a: str, b: str, t: float) -> str:
    ca = [int(a[i:i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


# ------------------------------------------------------------- playbooks

def funnel_chart(i: int, ps: PlaybookStats) -> Chart:
    n = len(ps.funnel)
    colors = [_blend(*FUNNEL, k / max(n - 1, 1) * 0.75) for k in range(n)]
    s = _series("reached", FUNNEL[0], [f.count for f in ps.funnel],
                [f"{f.count} · {pct(f.rate)}" for f in ps.funnel],
                [f"{f.stage}: {f.count} of {ps.enrolled} enrolled ({pct(f.rate)})" for f in ps.funnel],
                colors=colors)
    spec = {"type": "hbars", "categories": [f.stage for f in ps.funnel], "series": [s],
            "x_label": "enrollments", "y_label": "step"}
    return Chart(f"pb{i}-funnel", "Funnel", "Enrollments that reached each step, in plan order", spec)


def engagement_chart(i: int, ps: PlaybookStats) -> Chart:
    series = []
    for kind, color in ENGAGEMENT_COLORS.items():
        vals, labels, titles = [], [], []
        for s in ps.steps:
            n = getattr(s.engagement, kind)
            r = n / s.messaged if s.messaged else 0
            vals.append(r)
            labels.append(pct(r) if s.messaged else "")
            titles.append(f"{s.name} · {kind}: {n} of {s.messaged} messaged ({pct(r) if s.messaged else '—'})")
        series.append(_series(kind, color, vals, labels, titles))
    spec = {"type": "columns", "percent": True, "categories": [s.name for s in ps.steps], "series": series,
            "x_label": "step", "y_label": "of enrollments messaged", "hide_zero": True}
    return Chart(f"pb{i}-engagement", "Engagement by step",
                 "Share of the enrollments each step messaged that opened, clicked, replied", spec,
                 [(k, c) for k, c in ENGAGEMENT_COLORS.items()])


# --------------------------------------------------------------- win-back

def rate_chart(cid: str, title: str, hint: str, rows: list[RateRow], x_label: str) -> Chart:
    titles = [f"{r.key}: {r.won_back} of {r.enrolled} won back ({pct(r.rate)}) · revenue {money(r.revenue)}"
              for r in rows]
    s = _series("win-back rate", WINBACK, [r.rate or 0 for r in rows], [pct(r.rate) for r in rows], titles)
    spec = {"type": "columns", "percent": True, "categories": [r.key for r in rows], "series": [s],
            "x_label": x_label, "y_label": "won back"}
    return Chart(cid, title, hint, spec)


def winback_charts(report: Report) -> list[Chart]:
    wb = report.winback
    if wb is None:
        return []
    out = [rate_chart(f"wb-seg-{k}", f"Win-back rate by {d.name}", f"Segments by the playbook's let {d.name}",
                      d.rows, d.name) for k, d in enumerate(wb.by_segment)]
    out.append(rate_chart("wb-channel", "Win-back rate by channel",
                          "Of the enrollments each channel reached", wb.by_channel, "channel"))
    out.append(rate_chart("wb-offer", "Win-back rate by offer depth",
                          "By the deepest offer an enrollment was sent", wb.by_offer, "deepest offer"))
    return out


# ------------------------------------------------------------ over time

def _short_week(week: str) -> str:
    """2026-11-02 -> "Nov 2" (the hover title keeps the full date)."""
    from datetime import date

    d = date.fromisoformat(week)
    return f"{d:%b} {d.day}"


def outcomes_chart(report: Report) -> Chart:
    weeks = report.outcomes_by_week
    names = sorted({k for w in weeks for k in w.outcomes})
    series = [_series(n, outcome_color(n, k), [w.outcomes.get(n, 0) for w in weeks],
                      [str(w.outcomes.get(n, 0) or "") for w in weeks],
                      [f"week of {w.week} · {n}: {w.outcomes.get(n, 0)}" for w in weeks])
              for k, n in enumerate(names)]
    spec = {"type": "columns", "stacked": True, "categories": [_short_week(w.week) for w in weeks], "series": series,
            "x_label": "week of (UTC, from Monday)", "y_label": "enrollments ended"}
    return Chart("outcomes-weeks", "Outcomes over time", "Enrollments that ended each week, by outcome", spec,
                 [(n, outcome_color(n, k)) for k, n in enumerate(names)])


# ------------------------------------------------------------- execution

def execution_charts(report: Report) -> list[Chart]:
    ex = report.execution
    rows = ex.by_playbook
    split = {"type": "hbars", "stacked": True, "categories": [r.playbook for r in rows],
             "x_label": "touches (sends and tasks)", "y_label": "playbook", "series": [
                 _series("on time", ON_TIME, [r.on_time for r in rows], [str(r.on_time) for r in rows],
                         [f"{r.playbook}: {r.on_time} of {r.touches} on time ({pct(r.on_time_rate)})" for r in rows]),
                 _series("deferred", DEFERRED, [r.deferred for r in rows], [str(r.deferred) for r in rows],
                         [f"{r.playbook}: {r.deferred} of {r.touches} deferred" for r in rows])]}
    causes = list(CAUSE_COLORS)
    held = {"type": "columns", "categories": causes, "x_label": "what held them", "y_label": "deferred touches",
            "series": [_series("held", DEFERRED, [ex.total.by_cause.get(c, 0) for c in causes],
                               [str(ex.total.by_cause.get(c, 0)) for c in causes],
                               [f"{c}: held {ex.total.by_cause.get(c, 0)} of {ex.total.deferred} deferred touches"
                                for c in causes], colors=[CAUSE_COLORS[c] for c in causes])]}
    owners = ex.tasks
    fields = {"on time": "on_time", "late": "late", "open": "open", "overdue": "overdue"}
    tasks = {"type": "hbars", "stacked": True, "categories": [o.owner for o in owners],
             "x_label": "tasks created", "y_label": "owner",
             "series": [_series(name, TASK_COLORS[name], [getattr(o, f) for o in owners],
                                [str(getattr(o, f)) for o in owners],
                                [f"{o.owner}: {getattr(o, f)} of {o.created} {name}" for o in owners])
                        for name, f in fields.items()]}
    return [
        Chart("exec-split", "Touches on time vs deferred", "Sends and tasks that ran in the period", split,
              [("on time", ON_TIME), ("deferred", DEFERRED)]),
        Chart("exec-causes", "What deferred them",
              "A touch held by several causes counts under each", held),
        Chart("tasks-owners", "Tasks by owner", "Completed on time, late, still open, overdue", tasks,
              list(TASK_COLORS.items())),
    ]
