"""The canonical layout of an FSL file (what `fsl fmt` writes).

The layout depends only on the tree and the comments, never on the source's
spacing, so formatting is idempotent by construction and two differently
spaced copies of one file format to the same text.  The rules:

- 4 spaces per indentation level; no trailing spaces; the file ends with
  exactly one newline; no line is ever wrapped (a setting is one sentence,
  and the conformance playbooks keep long `enroll when` lines whole), so an
  expression continued over several lines inside brackets is joined.
- One blank line between playbooks.  The file's header comments (those
  separated from the first playbook by a blank line) come first, then a
  blank line.
- Inside a playbook the settings are sorted into the canonical order of
  LANGUAGE.md section 3, in paragraphs separated by one blank line:
    1. header:   description, owner, priority
    2. entry and time: enroll on/when (in source order), reenroll, then
       timezone, window, skip holidays, offer max, send at best time
    3. caps (source order)
    4. stop/pause rules (source order: their order can matter)
    5. lets (source order)
    6. each step, one paragraph per step, in source order
  The sort is stable: settings of one paragraph that the table does not
  order keep the order they were written in.
- Inside a step no blank lines.  `elif`/`else` align with their `if`; `case`
  and a match's `else` are one level deeper than `match`.
- Single spaces around binary operators and `=`; `[a, b]`, `f(a, b)`;
  minimal parentheses (exprs.py); durations, times and numbers in their
  canonical spelling (`2d` -> `2 days`).
- Comments (comments.py): an own-line comment is printed directly above the
  node it belongs to, at that node's indentation, and moves with it; a
  trailing comment is printed two spaces after its line; comments at the end
  of a block stay at its end; at the end of the playbook they follow a blank
  line, and so do comments at the end of the file.
"""
from __future__ import annotations

from ..durations import Duration
from ..syntax import nodes as n
from .comments import PARAGRAPH, Attached, attach
from .exprs import clock, duration, expr, literal, percent, string

INDENT = "    "

# kind -> (paragraph, rank within the paragraph); equal keys keep source order.
ORDER: dict[type, tuple[int, int]] = {
    n.Description: (1, 0), n.Owner: (1, 1), n.Priority: (1, 2),
    n.EnrollOn: (2, 0), n.EnrollWhen: (2, 0), n.Reenroll: (2, 1),
    n.Timezone: (2, 2), n.Window: (2, 3), n.SkipHolidays: (2, 4), n.OfferMax: (2, 5),
    n.BestTime: (2, 6),
    n.Cap: (3, 0),
    n.StopOn: (4, 0), n.StopWhen: (4, 0), n.PauseOn: (4, 0),
    n.Let: (5, 0),
    n.Step: (6, 0),
}


def canonical_order(items: tuple[n.Item, ...]) -> list[n.Item]:
    return sorted(items, key=lambda it: ORDER[type(it)])


def format_module(module: n.Module, source: str) -> str:
    """The canonical text of a parsed file.  `source` is the text it was parsed
    from (needed to place comments).  Pure printing: see verify.py for the checks.
    A module with syntax errors must not be printed: its tree may be partial."""
    if module.broken:
        raise ValueError(f"cannot format {module.file}: it has syntax errors")
    p = _Printer(attach(module, source))
    p.module(module)
    return p.text()


class _Printer:
    def __init__(self, att: Attached) -> None:
        self.att = att
        self.lines: list[str] = []

    # ----------------------------------------------------------- output
    def text(self) -> str:
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def line(self, depth: int, text: str, anchor: int | None = None) -> None:
        pad = INDENT * depth
        if anchor is not None:
            self.lines.extend(pad + c for c in self.att.leading.get(anchor, ()))
            trailing = self.att.trailing.get(anchor)
            if trailing:
                text = f"{text}  {trailing}"
        self.lines.append(pad + text)

    def block_end(self, depth: int, header: int) -> None:
        self.lines.extend(INDENT * depth + c for c in self.att.block_end.get(header, ()))

    # ---------------------------------------------------------- structure
    def module(self, module: n.Module) -> None:
        for c in self.att.header:
            if c == PARAGRAPH:
                self.blank()
            else:
                self.line(0, c)
        for pb in module.playbooks:
            self.blank()
            self.playbook(pb)
        if self.att.file_end:
            self.blank()
            for c in self.att.file_end:
                self.line(0, c)

    def playbook(self, pb: n.Playbook) -> None:
        self.line(0, f"playbook {pb.name}:", pb.span.line)
        paragraph = None
        for item in canonical_order(pb.items):
            group = ORDER[type(item)][0]
            here = ("step", id(item)) if isinstance(item, n.Step) else group
            if paragraph is not None and here != paragraph:
                self.blank()
            paragraph = here
            if isinstance(item, n.Step):
                self.step(item)
            else:
                self.line(1, setting(item), item.span.line)
        if self.att.block_end.get(pb.span.line):
            self.blank()
            self.block_end(1, pb.span.line)

    def step(self, s: n.Step) -> None:
        self.line(1, step_header(s), s.span.line)
        self.body(2, s.body, s.span.line)

    def body(self, depth: int, actions: tuple[n.Action, ...], header: int) -> None:
        for a in actions:
            self.action(depth, a)
        self.block_end(depth, header)

    def action(self, depth: int, a: n.Action) -> None:
        if isinstance(a, n.If):
            for k, br in enumerate(a.branches):
                self.line(depth, f"{'elif' if k else 'if'} {expr(br.cond)}:", br.span.line)
                self.body(depth + 1, br.body, br.span.line)
            if a.orelse is not None:
                assert a.else_span is not None, "the parser sets else_span with orelse"
                self.line(depth, "else:", a.else_span.line)
                self.body(depth + 1, a.orelse, a.else_span.line)
        elif isinstance(a, n.Match):
            self.line(depth, f"match {expr(a.subject)}:", a.span.line)
            for c in a.cases:
                self.line(depth + 1, f"case {', '.join(literal(v) for v in c.values)}:", c.span.line)
                self.body(depth + 2, c.body, c.span.line)
            if a.orelse is not None:
                assert a.else_span is not None, "the parser sets else_span with orelse"
                self.line(depth + 1, "else:", a.else_span.line)
                self.body(depth + 2, a.orelse, a.else_span.line)
            self.block_end(depth + 1, a.span.line)
        elif isinstance(a, n.Split):
            self.line(depth, split_header(a), a.span.line)
            for v in a.variants:
                self.line(depth + 1, f"variant {v.name} {percent(v.percent)}:", v.span.line)
                self.body(depth + 2, v.body, v.span.line)
            self.block_end(depth + 1, a.span.line)
        else:
            self.line(depth, simple_action(a), a.span.line)


# ------------------------------------------------------------- one-liners

def _opt(prefix: str, value: str | None) -> str:
    return f" {prefix} {value}" if value is not None else ""


def _where(e: n.Expr | None) -> str:
    return _opt("where", expr(e)) if e is not None else ""


def _dur(d: Duration | None) -> str | None:
    return duration(d) if d is not None else None


def split_header(a: n.Split) -> str:
    """`split NAME [pick winner by EVENT [within D] [confidence P%]]:` as written (defaults stay implicit)."""
    pick = ""
    if a.pick is not None:
        pick = (f" pick winner by {a.pick.event}{_opt('within', _dur(a.pick.within))}"
                f"{_opt('confidence', percent(a.pick.confidence) if a.pick.confidence is not None else None)}")
    return f"split {a.name}{pick}:"


def setting(s: n.Item) -> str:
    """The one line of a playbook setting (LANGUAGE.md sections 3, 4, 9)."""
    if isinstance(s, n.Description):
        return f"description {string(s.text)}"
    if isinstance(s, n.Owner):
        return f"owner {string(s.text)}"
    if isinstance(s, n.Priority):
        return f"priority {s.value}"
    if isinstance(s, n.EnrollOn):
        each = " for each stakeholder" if s.for_each_stakeholder else ""
        return f"enroll on {s.event}{each}{_where(s.where)}"
    if isinstance(s, n.EnrollWhen):
        check = ""
        if s.check_every is not None:
            check = f" check every {duration(s.check_every)}"
        elif s.check_cron is not None:
            check = f" check cron {string(s.check_cron)}"
        return f"enroll when {expr(s.cond)}{check}"
    if isinstance(s, n.Reenroll):
        return "reenroll never" if s.after is None else f"reenroll after {duration(s.after)}"
    if isinstance(s, n.Timezone):
        default = _opt("default", string(s.default)) if s.default is not None else ""
        return f"timezone {expr(s.value)}{default}"
    if isinstance(s, n.Window):
        return "window " + ", ".join(f"{r.days} {clock(r.start)}-{clock(r.end)}" for r in s.ranges)
    if isinstance(s, n.SkipHolidays):
        if s.value is None:
            return f"skip holidays {string(s.code)}"
        return f"skip holidays {expr(s.value)}" + (f" default {string(s.code)}" if s.code else "")
    if isinstance(s, n.OfferMax):
        return f"offer max {percent(s.percent)}"
    if isinstance(s, n.BestTime):
        return "send at best time" + (f" within {duration(s.within)}" if s.within is not None else "")
    if isinstance(s, n.Cap):
        channel = f" {s.channel}" if s.channel else ""
        if s.calendar is not None:
            span = f"per calendar {s.calendar}"
        else:
            span = f"per {duration(s.per)}" if s.per is not None else "total"
        across = " across deal" if s.across_deal else ""
        return f"cap{channel} {s.limit} {span}{across}"
    if isinstance(s, n.StopOn):
        across = " across deal" if s.across_deal else ""
        return f"stop on {s.event}{across}{_where(s.where)}{_opt('as', s.outcome)}"
    if isinstance(s, n.StopWhen):
        return f"stop when {expr(s.cond)}{_opt('as', s.outcome)}"
    if isinstance(s, n.PauseOn):
        if s.until is not None:
            end = f" until {expr(s.until)}{_opt('default', _dur(s.default))}"
        else:
            end = _opt("for", _dur(s.for_))
        return f"pause on {s.event}{_where(s.where)}{end}"
    if isinstance(s, n.Let):
        return f"let {s.name} = {expr(s.value)}"
    raise TypeError(f"not a setting: {s!r}")


def step_header(s: n.Step) -> str:
    parts = [f"step {s.name}"]
    t = s.timing
    if isinstance(t, n.After):
        parts.append(f"after {duration(t.duration)}")
    elif isinstance(t, n.AtDay):
        parts.append(f"at day {t.day}" + (f" {clock(t.minute)}" if t.minute is not None else ""))
    elif isinstance(t, n.AtCron):
        parts.append(f"at cron {string(t.expr)}")
    if s.every is not None:
        parts.append(f"every {duration(s.every.duration)}" + (f" max {s.every.max}" if s.every.max is not None else ""))
    return " ".join(parts) + ":"


def simple_action(a: n.Action) -> str:
    """The one line of an action other than `if` and `match` (LANGUAGE.md section 6)."""
    if isinstance(a, n.Send):
        to = _opt("to", expr(a.to)) if a.to is not None else ""
        with_ = ""
        if a.with_args:
            with_ = " with " + ", ".join(f"{w.name} = {expr(w.value)}" for w in a.with_args)
        return f"send {a.channel} {string(a.template)}{to}{with_}"
    if isinstance(a, n.Task):
        to = _opt("to", expr(a.to)) if a.to is not None else ""
        return f"task {a.kind} {string(a.text)}{to}{_opt('due', _dur(a.due))}"
    if isinstance(a, n.Notify):
        return f"notify {expr(a.to)} {string(a.text)}"
    if isinstance(a, n.Offer):
        return f"offer discount {percent(a.percent)}{_opt('expires', _dur(a.expires))}"
    if isinstance(a, n.SetField):
        return f"set {a.path.dotted} = {expr(a.value)}"
    if isinstance(a, n.Wait):
        return f"wait {duration(a.duration)}"
    if isinstance(a, n.WaitFor):
        return f"wait up to {duration(a.duration)} for {a.event}{_where(a.where)}"
    if isinstance(a, n.Goto):
        return f"goto {a.step}"
    if isinstance(a, n.End):
        return "end" + _opt("as", a.outcome)
    raise TypeError(f"not an action: {a!r}")

