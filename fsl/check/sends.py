"""What steps send: channels (E208), templates (E209, E217, E218), their variables
(E210), the link tags `clicked` names (E211), and the placeholders of `task`
and `notify` texts (E204).

All of it needs the project file: channels are declared there and templates
live in its templates folder.
"""
from __future__ import annotations

from functools import lru_cache

import os
import re
from pathlib import Path

from ..config import Config, Schema
from ..diagnostics import Diagnostic, Span, did_you_mean
from ..project import display_path
from ..syntax import nodes as n
from ..templates import (
    Template, TemplateAmbiguous, TemplateError, TemplateNotFound, TemplateUnreadable, parse_template,
)
from .context import CheckContext
from .walk import ENTITIES, actions, calls, first_line, sends, sites

OFFER_FIELDS = ("percent", "expires")


def check_sends(ctx: CheckContext) -> None:
    config = ctx.config
    loader = _Loader(ctx, config) if config is not None else None
    for _, pb in ctx.playbooks():
        for step in pb.steps:
            for action in actions(step.body):
                if isinstance(action, (n.Task, n.Notify)):
                    _placeholders(ctx, action)  # their syntax needs no project file
                elif isinstance(action, n.Send) and loader is not None:
                    _send(ctx, loader, action)
        if loader is not None:
            _caps(ctx, loader.config, pb)
            _links(ctx, loader, pb)


# ---------------------------------------------------------------- channels

def _channel(ctx: CheckContext, config: Config, name: str, span: Span, otherwise: str) -> None:
    channels = config.channels
    if name in channels:
        return
    guess = did_you_mean(name, channels)
    declared = ", ".join(channels) or "none"
    help = f"did you mean {guess}?" if guess else f"the channels of fsl.yaml are {declared}; {otherwise}"
    ctx.report(Diagnostic.make("E208", f"unknown channel {name}", span, help))


def _caps(ctx: CheckContext, config: Config, pb: n.Playbook) -> None:
    # A cap may also name a task kind (RUNTIME.md: tasks count toward caps that
    # name their kind); a name that is neither counts nothing: a typo.
    kinds = {a.kind for step in pb.steps for a in actions(step.body) if isinstance(a, n.Task)}
    for cap in pb.of(n.Cap):
        if cap.span.file != pb.span.file:
            continue  # inherited from fsl.yaml's defaults: checked there, where it names a channel
        # the builder gives a cap's channel and its span together
        if cap.channel is not None and cap.channel_span is not None and cap.channel not in kinds:
            _channel(ctx, config, cap.channel, cap.channel_span, "a cap may also name the kind of a task of this playbook")


# --------------------------------------------------------------- templates

class _Loader:
    """Templates by name, each looked up once; problems are reported at the first send."""

    def __init__(self, ctx: CheckContext, config: Config) -> None:
        self.ctx = ctx
        self.config = config
        self.store = ctx.templates
        self.found: dict[str, Template | None] = {}
        self.errors: dict[str, TemplateNotFound | TemplateAmbiguous | TemplateError] = {}

    def shown(self, path: Path) -> str:
        """A template path as fsl.yaml names it (relative to the project), else as the CLI shows it."""
        rel = os.path.relpath(Path(path), self.config.root)
        return display_path(Path(path)) if rel.startswith("..") else rel

    def folder(self) -> str:
        assert self.store is not None, "only missing() asks, after a lookup in the store"
        return self.shown(self.store.folder).rstrip("/") + "/"

    def get(self, send: n.Send) -> Template | None:
        """The template a send names; None (reported) when it cannot be used."""
        if self.store is None:
            return None
        name = send.template
        if name in self.found:
            if self.found[name] is None:
                self.missing(send)  # every send of a missing template is an error of its own
            return self.found[name]
        try:
            self.found[name] = self.store.lookup(name)
        except (TemplateNotFound, TemplateAmbiguous, TemplateError) as exc:
            self.found[name] = None
            self.errors[name] = exc
            self.missing(send)
        return self.found[name]

    def missing(self, send: n.Send) -> None:
        """E209 at the send for a missing or ambiguous template; E001 at the template for a broken one."""
        exc = self.errors[send.template]
        name, span = send.template, send.template_span
        if isinstance(exc, TemplateNotFound):
            help = f'did you mean "{exc.suggestion}"?' if exc.suggestion else \
                f'add {self.folder()}{name}.md (a YAML front matter and a Jinja2 body)'
            self.ctx.report(Diagnostic.make("E209", f'template "{name}" not found in {self.folder()}', span, help))
        elif isinstance(exc, TemplateAmbiguous):
            files = ", ".join(p.name for p in exc.paths)
            self.ctx.report(Diagnostic.make("E209", f'template "{name}" is ambiguous: {files}', span,
                                            "keep one file per template name"))
        else:
            # The template exists but is broken: point at the template's own line.
            where = Span.point(display_path(exc.path) if exc.path else name, exc.line, 1)
            what = "cannot read" if isinstance(exc, TemplateUnreadable) else "malformed"
            self.ctx.report(Diagnostic.make("E001", f'{what} template "{name}": {exc.message}', where,
                                            f"sent by {span.file}:{span.line}"))


def _send(ctx: CheckContext, loader: _Loader, send: n.Send) -> None:
    _channel(ctx, loader.config, send.channel, send.channel_span, f'for a to-do write `task {send.channel} "..."`')
    template = loader.get(send)
    if template is None:
        return
    if template.renderer == "llm" and loader.config.llm is None:
        ctx.report(Diagnostic.make(
            "E217", f'template "{send.template}" has renderer: llm, but fsl.yaml has no `llm` block',
            send.template_span,
            "add an `llm:` block (base_url, model, api_key) to fsl.yaml, or use renderer: template"))
    _subject(ctx, loader.config, send, template, loader.shown(template.path))
    channel = loader.config.channels.get(send.channel)
    tracks = channel is not None and bool(getattr(channel.settings, "tracking", False))
    _variables(ctx, loader.config.schema_, send, template, loader.shown(template.path), tracks)


def _subject(ctx: CheckContext, config: Config, send: n.Send, template: Template, where: str) -> None:
    """E218: an email needs a subject; an llm template gets its subject from the model."""
    channel = config.channels.get(send.channel)
    if channel is None or channel.adapter != "smtp" or template.renderer == "llm":
        return
    if template.subject is None or not template.subject.strip():
        ctx.report(Diagnostic.make(
            "E218", f'template "{send.template}" ({where}) has no subject, and channel {send.channel} sends email',
            send.template_span, 'add `subject: "..."` to the front matter of the template'))


def _variables(ctx: CheckContext, schema: Schema, send: n.Send, template: Template, where: str,
               tracks: bool = False) -> None:
    """E210: every variable the template uses must be something the send provides
    (`unsubscribe_url` on a channel with `tracking: on`, SIGNALS.md 1)."""
    given = {w.name for w in send.with_args} | ({"unsubscribe_url"} if tracks else set())
    for var in sorted(template.variables):
        problem, help = _variable_problem(var, template, given, schema)
        if problem is None:
            continue
        line = template.variable_lines.get(var)
        at = f" ({where}, line {line})" if line else f" ({where})"
        if help is None:
            help = f'pass it: send {send.channel} "{send.template}" with {var.split(".")[0]} = ...'
        ctx.report(Diagnostic.make("E210", f'template "{send.template}" uses {var}{at}, {problem}',
                                   first_line(send.span), help))


OWNER_FIELDS = ("name", "email", "phone", "signature")


def _variable_problem(var: str, template: Template, given: set[str], schema: Schema) -> tuple[str | None, str | None]:
    parts = var.split(".")
    root, field = parts[0], (parts[1] if len(parts) > 1 else None)
    if root in given or root == "vars":
        return None, None
    if root in ENTITIES:
        fields = schema.fields(root)
        if field is None or field in fields:
            return None, None
        guess = did_you_mean(field, fields)
        return (f"which is not a field of {root} in the schema",
                f"did you mean {root}.{guess}?" if guess else f"declare it under `schema: {root}:` in fsl.yaml")
    if root == "offer":
        if field is None or field in OFFER_FIELDS:
            return None, None
        return "but an offer has only percent and expires", "use offer.percent or offer.expires"
    if root == "owner":  # the contact's owner, or the channel's own sender (CONSOLE.md)
        if field is None or field in OWNER_FIELDS:
            return None, None
        return "but owner has only name, email, phone and signature", "use owner.name, owner.email, ..."
    if root == "links":
        if field is None or field in template.links:
            return None, None
        guess = did_you_mean(field, template.links)
        return ("which the template's front matter `links` does not declare",
                f"did you mean links.{guess}?" if guess else "declare it under `links:` in the front matter")
    if root == "unsubscribe_url":
        return ("which only a channel with `tracking: on` provides",
                "set `tracking: on` on the channel (and `server.base_url`, `server.secret`) in fsl.yaml")
    return "which is neither in the schema nor passed with `with`", None


# ---------------------------------------------------------------- links

def _links(ctx: CheckContext, loader: _Loader, pb: n.Playbook) -> None:
    """E211: `clicked(STEP, "tag")` must name a link of a template STEP sends."""
    by_step = {s.name: s for s in pb.steps}
    for site in sites(pb):
        for call in calls(site.expr, ("clicked",)):
            tag, step = _clicked_parts(call, by_step)
            if tag is None:
                continue
            targets = [step] if step is not None else pb.steps
            links = _link_tags(loader, targets)
            if links is None or tag.value in links:
                continue
            if step is not None and not sends(step):
                continue  # W402 says the step sends nothing
            guess = did_you_mean(str(tag.value), links)
            owner = f"step {step.name}" if step is not None else f"playbook {pb.name}"
            help = f'did you mean "{guess}"?' if guess else (
                f"the templates sent by {owner} declare " + (", ".join(sorted(links)) or "no links"))
            ctx.report(Diagnostic.make("E211", f'unknown link tag "{tag.value}" for {owner}', tag.span, help))


def _clicked_parts(call: n.Call, by_step: dict[str, n.Step]) -> tuple[n.Literal | None, n.Step | None]:
    """(the link literal, the step) of a clicked() call; (None, _) when nothing to check."""
    args = call.args
    step = None
    if args and isinstance(args[0], n.Name):
        step = by_step.get(args[0].name)
        if step is None:
            return None, None  # E201
        args = args[1:]
    if len(args) != 1 or not (isinstance(args[0], n.Literal) and args[0].kind == "string"):
        return None, None
    return args[0], step


def _link_tags(loader: _Loader, steps: list[n.Step]) -> set[str] | None:
    """The link tags of every template the steps send; None when one is unknown."""
    tags: set[str] = set()
    for step in steps:
        for send in sends(step):
            if send.template not in loader.found:
                return None
            template = loader.found[send.template]
            if template is None:
                return None
            tags |= set(template.links)
    return tags


# ---------------------------------------------------------- placeholders

_ESCAPED = re.compile(r"[\\\"\n\t]")


@lru_cache(maxsize=4096)
def _parse_text(text: str) -> Template:
    """Task and notify texts repeat across playbooks: parse each distinct text once."""
    return parse_template(text, Path("text.txt"))


def _placeholders(ctx: CheckContext, action: n.Task | n.Notify) -> None:
    """`{{ contact.first_name }}` in a task or notify text must name a declared field."""
    if "{" not in action.text:
        return
    try:
        parsed = _parse_text(action.text)
    except TemplateError as exc:
        problem = exc.message.removeprefix("template syntax error in the body: ")
        ctx.report(Diagnostic.make("E101", f"malformed {{{{ }}}} placeholder in the text: {problem}",
                                   action.text_span, "placeholders are written {{ contact.first_name }}"))
        return
    if ctx.config is None:
        return
    schema = ctx.config.schema_
    for var in sorted(parsed.variables):
        parts = var.split(".")
        if parts[0] not in ENTITIES or len(parts) < 2:
            continue
        fields = schema.fields(parts[0])
        if parts[1] in fields:
            continue
        guess = did_you_mean(parts[1], fields)
        ctx.report(Diagnostic.make("E204", f"unknown field {parts[0]}.{parts[1]}", _in_text(action, var),
                                   f"did you mean {parts[0]}.{guess}?" if guess else None))


def _in_text(action: n.Task | n.Notify, var: str) -> Span:
    """The span of `var` inside the string, when it can be found exactly; else the string."""
    s = action.text_span
    found = re.search(r"(?<![\w.])" + re.escape(var) + r"(?!\w)", action.text)
    if found is None or s.end_line != s.line or _ESCAPED.search(action.text[: found.start()]):
        return s
    col = s.column + 1 + found.start()
    return Span(s.file, s.line, col, s.line, col + len(var))
