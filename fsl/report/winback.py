"""The win-back section: rate by segment, channel and offer depth, revenue
recovered, re-churn.

Definitions (README.md has the longer version):

* a **win-back playbook** is one whose plan can end an enrollment `as
  won_back`, or any of whose enrollments did;
* **rate** = enrollments that ended `won_back` / enrollments (of the cohort);
* **revenue recovered** = the `amount` of the contact's `purchased` events
  from the start of a won-back enrollment to 90 days after the win-back;
  a purchase counts once, for the latest such enrollment that started
  before it;
* **re-churn** = a contact won back who churns again within 90 days: a later
  enrollment into a win-back playbook, `status` set to `churned` (an update
  or a `set` action), or a `churned_at` field inside those 90 days.
"""
from __future__ import annotations

import re
import statistics
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from fsl.compiler.plan import Plan
from fsl.engine.model import Enrollment

from .facts import Facts
from .model import RateRow, SegmentDimension, Winback, ratio
from .segments import Segmenter

WON_BACK = "won_back"
HORIZON = timedelta(days=90)  # re-churn and revenue look this far past a win-back
REVENUE_EVENT, REVENUE_FIELD = "purchased", "amount"
STATUS_FIELD, CHURNED, CHURNED_AT = "status", "churned", "churned_at"
# the journal's text for an update (ingest.py): "contact c1: status = 'churned', ..."
_CHURN_UPDATE = re.compile(r"(?:: |, )status = 'churned'(?=, |$)")


def is_winback(plan: Plan | None, enrollments: Iterable[Enrollment]) -> bool:
    if plan is not None and WON_BACK in _outcomes(plan.model_dump()):
        return True
    return any(en.outcome == WON_BACK for en in enrollments)


def winback_section(facts: Facts, cohort: dict[str, list[Enrollment]], plans: dict[str, Plan],
                    config: Any = None) -> Winback | None:
    names = [n for n in cohort if is_winback(plans.get(n), (e for e in facts.enrollments if e.playbook == n))]
    if not names:
        return None
    ens = [en for n in names for en in cohort[n]]
    # (an ended enrollment has its end: the last test only says so to the type checker)
    won = {en.id: en.ended_at for en in ens
           if facts.ended(en) and en.outcome == WON_BACK and en.ended_at is not None}
    revenue = _revenue(facts, names)
    seg = Segmenter(facts, plans, getattr(config, "timezone", None))
    wb = Winback(playbooks=names, enrolled=len(ens), won_back=len(won), rate=ratio(len(won), len(ens)),
                 revenue=sum(revenue.get(i, 0) for i in won))
    days = [(won[en.id] - en.started_at).total_seconds() / 86400 for en in ens if en.id in won]
    wb.median_days_to_win_back = statistics.median(days) if days else None
    wb.by_playbook = [_row(n, cohort[n], won, revenue) for n in names]
    wb.by_segment, wb.segment_source = _segments(seg, names, ens, won, revenue)
    wb.by_channel = _by_channel(facts, ens, won, revenue)
    wb.by_offer = _by_offer(facts, ens, won, revenue)
    churned = {en.id for en in ens if en.id in won and _rechurned(facts, en, won[en.id], names)}
    wb.rechurned = len(churned)
    wb.rechurn_rate = ratio(len(churned), len(won))
    wb.rechurn_pending = sum(1 for i, at in won.items() if i not in churned and at + HORIZON > facts.as_of)
    return wb


# ----------------------------------------------------------------- slices

def _row(key: str, ens: list[Enrollment], won: dict, revenue: dict) -> RateRow:
    w = [en for en in ens if en.id in won]
    return RateRow(key=key, enrolled=len(ens), won_back=len(w), rate=ratio(len(w), len(ens)),
                   revenue=sum(revenue.get(en.id, 0) for en in w))


def _group(ens: list[Enrollment], key: Callable[[Enrollment], str], won, revenue,
           order: Callable[[str], Any] = str) -> list[RateRow]:
    groups: dict[str, list[Enrollment]] = {}
    for en in ens:
        groups.setdefault(key(en), []).append(en)
    return [_row(k, groups[k], won, revenue) for k in sorted(groups, key=order)]


def _segments(seg: Segmenter, names: list[str], ens: list[Enrollment], won, revenue):
    lets = list(dict.fromkeys(n for name in names for n in seg.names(name)))
    if not lets:
        known = any(seg.program(n) is not None for n in names)
        return [], "no lets in the playbook" if known else "unavailable: no plan"
    values = {en.id: seg.values(en) for en in ens}

    def value_of(let: str) -> Callable[[Enrollment], str]:
        return lambda en: values[en.id][let]

    dims = [SegmentDimension(name=let, rows=_group([en for en in ens if let in values[en.id]],
                                                   value_of(let), won, revenue))
            for let in lets]
    return dims, "evaluated"


def _sends_before(facts: Facts, en: Enrollment, won: dict) -> list:
    end = won.get(en.id)
    return [a for a in facts.sends(en) if end is None or a.at <= end]


def _by_channel(facts: Facts, ens: list[Enrollment], won, revenue) -> list[RateRow]:
    """Per channel: the enrollments it reached, how many of those came back,
    and how many wins it had the last send before (last touch)."""
    reached: dict[str, list[Enrollment]] = {}
    last: dict[str, int] = {}
    for en in ens:
        sends = _sends_before(facts, en, won)
        for ch in dict.fromkeys(a.channel or "none" for a in sends):
            reached.setdefault(ch, []).append(en)
        if en.id in won and sends:
            ch = sends[-1].channel or "none"
            last[ch] = last.get(ch, 0) + 1
    rows = []
    for ch in sorted(reached):
        row = _row(ch, reached[ch], won, revenue)
        row.last_touch_wins = last.get(ch, 0)
        rows.append(row)
    return rows


def _depth(facts: Facts, en: Enrollment, won) -> float | None:
    pcts = [a.offer["percent"] for a in _sends_before(facts, en, won) if a.offer and a.offer.get("percent")]
    return max(pcts) if pcts else None


def _by_offer(facts: Facts, ens: list[Enrollment], won, revenue) -> list[RateRow]:
    """By the deepest offer an enrollment was sent (before its win-back)."""
    depth = {en.id: _depth(facts, en, won) for en in ens}

    def label(en: Enrollment) -> str:
        d = depth[en.id]
        return "no offer" if d is None else f"{d:g}%"

    return _group(ens, label, won, revenue,
                  order=lambda k: -1.0 if k == "no offer" else float(k.rstrip("%")))


# ------------------------------------------------------- revenue, churn

def _revenue(facts: Facts, names: list[str]) -> dict[int, float]:
    """Won-back enrollment id -> the purchases it recovered."""
    wins = [en for en in facts.enrollments if en.playbook in names and facts.ended(en) and en.outcome == WON_BACK]
    out: dict[int, float] = {}
    for e in facts.events_of_type(REVENUE_EVENT):
        amount = e.fields.get(REVENUE_FIELD)
        if not isinstance(amount, (int, float)) or isinstance(amount, bool) or e.at > facts.as_of:
            continue
        fits = [en for en in wins if en.contact == e.contact and en.ended_at is not None
                and en.started_at <= e.at <= en.ended_at + HORIZON]
        if fits:
            en = max(fits, key=lambda x: (x.started_at, x.id))
            out[en.id] = out.get(en.id, 0) + amount
    return out


def churn_instants(facts: Facts, contact: str, names: list[str]) -> list[datetime]:
    """Every instant the data says the contact churned (or re-entered a win-back)."""
    out = [en.started_at for en in facts.by_contact.get(contact, ()) if en.playbook in names]
    out += [a.at for a in facts.sets if a.contact == contact and a.data
            and a.data.get("path") == ["contact", STATUS_FIELD] and a.data.get("value") == CHURNED]
    out += [j.at for j in facts.updates if j.contact == contact and _CHURN_UPDATE.search(j.reason)]
    out += [e.at for e in facts.contact_events(contact, "update")
            if (e.fields.get("set") or {}).get(STATUS_FIELD) == CHURNED]
    c = facts.store.get_contact(contact)
    at = c.fields.get(CHURNED_AT) if c is not None else None
    if isinstance(at, datetime):
        out.append(at)
    return out


def _rechurned(facts: Facts, en: Enrollment, won_at: datetime, names: list[str]) -> bool:
    return any(won_at < t <= won_at + HORIZON and t <= facts.as_of
               for t in churn_instants(facts, en.contact, names))


def _outcomes(tree: Any) -> set[str]:
    """Every `outcome` a plan (as JSON) can end with."""
    if isinstance(tree, dict):
        found = {tree["outcome"]} if isinstance(tree.get("outcome"), str) else set()
        return found.union(*(_outcomes(v) for v in tree.values()))
    if isinstance(tree, list):
        return set().union(*(_outcomes(v) for v in tree))
    return set()
