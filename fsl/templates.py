"""Message templates (CONFIG.md, "Templates"): lookup, front matter, variables, rendering.

`send email "recap"` names `templates/recap.*`.  A template is an optional
YAML front matter between `---` lines and a Jinja2 body.  Loading parses both
so that `fsl check` can report syntax errors and the variables a template
uses (E209-E211, E217) without rendering anything; rendering runs in Jinja2's
sandbox with StrictUndefined, so a missing value is an error rather than an
empty string in a customer's inbox.
"""
from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal, Mapping

import jinja2
from jinja2 import StrictUndefined, meta, nodes
from jinja2.runtime import new_context
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from fsl.diagnostics.core import did_you_mean
from fsl.sandbox import BudgetSandbox, budget, render_parts

Renderer = Literal["template", "llm"]
RENDERERS: tuple[str, ...] = ("template", "llm")
FRONT_MATTER_KEYS: tuple[str, ...] = ("subject", "renderer", "max_words", "avoid", "links")
HTML_SUFFIXES: frozenset[str] = frozenset({".html", ".htm"})


# ---------------------------------------------------------------------------
# Errors


class TemplateError(Exception):
    """A template that cannot be used; `line` is 1-based in the template file."""

    def __init__(self, message: str, line: int = 1, path: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.path = path


class TemplateUnreadable(TemplateError):
    """The file exists but cannot be read (E001 rather than a template problem)."""


class TemplateRenderError(TemplateError):
    """Rendering failed: a missing variable, a sandbox violation, a bad operation."""


class TemplateNotFound(LookupError):
    """No file matches the name; `candidates` are the available names for a did-you-mean."""

    def __init__(self, name: str, folder: Path, candidates: tuple[str, ...]) -> None:
        self.name = name
        self.folder = folder
        self.candidates = candidates
        self.suggestion = did_you_mean(name, candidates) if candidates else None
        hint = f"; did you mean {self.suggestion!r}?" if self.suggestion else ""
        super().__init__(f"no template {name!r} in {folder}{hint}")


class TemplateAmbiguous(LookupError):
    """Two or more files match the name (`recap.md` and `recap.html`)."""

    def __init__(self, name: str, paths: tuple[Path, ...]) -> None:
        self.name = name
        self.paths = paths
        listed = ", ".join(p.name for p in paths)
        super().__init__(f"template name {name!r} is ambiguous: {listed}")


# ---------------------------------------------------------------------------
# The template value


@dataclass(frozen=True)
class Template:
    """A loaded template.  `variables` are dotted paths (`contact.first_name`)."""

    name: str
    path: Path
    subject: str | None
    renderer: Renderer
    max_words: int | None
    avoid: tuple[str, ...]
    links: dict[str, str] = field(hash=False)
    body: str
    body_line: int
    variables: frozenset[str]
    top_level_variables: frozenset[str]
    variable_lines: dict[str, int] = field(hash=False, compare=False)
    subject_line: int | None = None

    @property
    def is_html(self) -> bool:
        return self.path.suffix.lower() in HTML_SUFFIXES


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str | None
    text: str
    html: str | None = None


# ---------------------------------------------------------------------------
# Lookup


class TemplateStore:
    """The templates folder: name -> Template, loaded once and cached."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._cache: dict[str, Template] = {}
        self._files: tuple[Path, ...] | None = None
        self._lock = threading.Lock()

    def _listing(self) -> tuple[Path, ...]:
        if self._files is None:
            try:
                entries = sorted(p for p in self.folder.iterdir() if _is_template_file(p))
            except OSError:
                entries = []
            self._files = tuple(entries)
        return self._files

    def names(self) -> list[str]:
        """Available template names (file stems), sorted."""
        return sorted({p.stem for p in self._listing()})

    def candidates(self, name: str) -> tuple[Path, ...]:
        """Files `name.*` in the folder (what `send ... "name"` could mean)."""
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return ()
        return tuple(p for p in self._listing() if p.name.startswith(name + "."))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and len(self.candidates(name)) == 1

    def lookup(self, name: str) -> Template:
        """The one template `name.*`; raises TemplateNotFound, TemplateAmbiguous or TemplateError."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        found = self.candidates(name)
        if not found:
            raise TemplateNotFound(name, self.folder, tuple(self.names()))
        if len(found) > 1:
            raise TemplateAmbiguous(name, found)
        template = load_template(found[0], name)
        with self._lock:
            return self._cache.setdefault(name, template)

    def refresh(self) -> None:
        """Forget the listing and loaded templates (after files changed)."""
        with self._lock:
            self._cache.clear()
            self._files = None


def _is_template_file(path: Path) -> bool:
    return not path.name.startswith(".") and not path.name.endswith("~") and path.is_file()


# ---------------------------------------------------------------------------
# Loading


def load_template(path: Path, name: str | None = None) -> Template:
    """Read and parse one template file; raises TemplateError with the file line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateUnreadable(f"cannot read template {path}: not UTF-8 ({exc.reason})", 1, path) from exc
    except OSError as exc:
        raise TemplateUnreadable(f"cannot read template {path}: {exc.strerror or exc}", 1, path) from exc
    try:
        return parse_template(text, path, name)
    except TemplateError as exc:
        exc.path = path
        raise


def parse_template(text: str, path: Path, name: str | None = None) -> Template:
    """Parse template text (front matter + body); `path` decides HTML and names the template."""
    path = Path(path)
    front, body, body_line = _split_front_matter(text.removeprefix("\ufeff"))
    meta_ = _FrontMatter(front or "", path)
    html = path.suffix.lower() in HTML_SUFFIXES

    found_lines: dict[str, int] = {}
    top: set[str] = set()
    if meta_.subject is not None:
        _scan(meta_.subject, False, meta_.subject_line or 1, found_lines, top, "subject")
    _scan(body, html, body_line, found_lines, top, "body")
    return Template(
        name=name if name is not None else path.stem,
        path=path,
        subject=meta_.subject,
        renderer=meta_.renderer,
        max_words=meta_.max_words,
        avoid=meta_.avoid,
        links=meta_.links,
        body=body,
        body_line=body_line,
        variables=frozenset(found_lines),
        top_level_variables=frozenset(top),
        variable_lines=dict(sorted(found_lines.items())),
        subject_line=meta_.subject_line,
    )


def _split_front_matter(text: str) -> tuple[str | None, str, int]:
    """(front matter text or None, body, 1-based line where the body starts)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return None, text, 1
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1:]), index + 2
    raise TemplateError("the front matter opened with `---` on line 1 is never closed by a `---` line", 1)


class _FrontMatter:
    """Validated front matter; lines are file lines (the front matter starts on line 2)."""

    def __init__(self, text: str, path: Path) -> None:
        self.subject: str | None = None
        self.subject_line: int | None = None
        self.renderer: Renderer = "template"
        self.max_words: int | None = None
        self.avoid: tuple[str, ...] = ()
        self.links: dict[str, str] = {}
        if not text.strip():
            return
        try:
            data = YAML(typ="rt").load(text)  # round-trip only for line numbers; builds no objects
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 2 if mark is not None else 2
            raise TemplateError(f"malformed front matter: {exc.problem or 'syntax error'}", line) from exc
        except YAMLError as exc:  # pragma: no cover
            raise TemplateError(f"malformed front matter: {exc}", 2) from exc
        if data is None:
            return
        if not isinstance(data, Mapping):
            raise TemplateError("the front matter must be a mapping (subject, renderer, max_words, avoid, links)", 2)

        def line_of(key: str) -> int:
            try:
                # ruamel's CommentedMap (untyped for mypy) keeps each key's line in .lc
                return data.lc.key(key)[0] + 2  # type: ignore[attr-defined]
            except (AttributeError, KeyError, TypeError):
                return 2

        for key in data:
            if key not in FRONT_MATTER_KEYS:
                guess = did_you_mean(str(key), FRONT_MATTER_KEYS)
                hint = f"; did you mean `{guess}`?" if guess else ""
                raise TemplateError(
                    f"unknown front matter key `{key}`; expected one of {', '.join(FRONT_MATTER_KEYS)}{hint}",
                    line_of(key),
                )
        if data.get("subject") is not None:
            subject = data["subject"]
            if not isinstance(subject, str):
                raise TemplateError("`subject` must be a string", line_of("subject"))
            self.subject = str(subject)
            try:
                self.subject_line = data.lc.value("subject")[0] + 2  # type: ignore[attr-defined]  # as above
            except (AttributeError, KeyError, TypeError):
                self.subject_line = line_of("subject")
        if data.get("renderer") is not None:
            renderer = data["renderer"]
            if renderer not in RENDERERS:
                raise TemplateError(f"`renderer` must be `template` or `llm`, got {renderer!r}", line_of("renderer"))
            self.renderer = str(renderer)  # type: ignore[assignment]
        if data.get("max_words") is not None:
            words = data["max_words"]
            if isinstance(words, bool) or not isinstance(words, int) or words <= 0:
                raise TemplateError(f"`max_words` must be a positive integer, got {words!r}", line_of("max_words"))
            self.max_words = int(words)
        if data.get("avoid") is not None:
            avoid = data["avoid"]
            if not isinstance(avoid, list) or not all(isinstance(a, str) for a in avoid):
                raise TemplateError("`avoid` must be a list of strings, e.g. [\"just checking in\"]", line_of("avoid"))
            self.avoid = tuple(str(a) for a in avoid)
        if data.get("links") is not None:
            links = data["links"]
            if not isinstance(links, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in links.items()
            ):
                raise TemplateError("`links` must map tag names to URLs (strings)", line_of("links"))
            self.links = {str(k): str(v) for k, v in links.items()}


# ---------------------------------------------------------------------------
# Variables


def _scan(source: str, html: bool, first_line: int, found: dict[str, int], top: set[str], where: str) -> None:
    """Parse `source` (raising TemplateError at the file line) and collect its variables."""
    env = _ENVIRONMENTS[html]
    try:
        ast = env.parse(source)
        _refuse_unusable(ast, env, first_line, where)
        _compiled(source, html)  # also catches unknown filters, and warms the cache
    except jinja2.TemplateSyntaxError as exc:
        line = first_line + (exc.lineno or 1) - 1
        raise TemplateError(f"template syntax error in the {where}: {exc.message}", line) from exc
    except (RecursionError, SyntaxError, MemoryError) as exc:
        # Jinja2's parser and Python's compiler recurse per level: ~70 parentheses or 21 nested
        # `for`s are past what they can take (Python: "too many statically nested blocks")
        raise TemplateError(f"the {where} is nested too deeply to compile ({type(exc).__name__}); "
                            "use fewer nested blocks or parentheses", first_line) from None
    undeclared = meta.find_undeclared_variables(ast) - set(env.globals)
    top |= undeclared
    for path, lineno in _paths(ast, undeclared):
        line = first_line + lineno - 1
        if path not in found or line < found[path]:
            found[path] = line


# Tags that load another template: there is no loader, so every render would fail.
_LOADS = {nodes.Extends: "extends", nodes.Include: "include", nodes.Import: "import",
          nodes.FromImport: "from ... import"}


def _refuse_unusable(ast: nodes.Template, env, first_line: int, where: str) -> None:
    """What would fail every render, reported when the template is loaded (by `fsl check`)."""
    for kind, tag in _LOADS.items():
        for node in ast.find_all(kind):
            raise TemplateError(f"`{{% {tag} %}}` in the {where}: a template cannot load another template; "
                                "write the text in this one", first_line + node.lineno - 1)
    for test in ast.find_all(nodes.Test):
        if test.name not in env.tests:
            guess = did_you_mean(test.name, env.tests)
            hint = f"; did you mean `{guess}`?" if guess else ""
            raise TemplateError(f"unknown test `{test.name}` in the {where}{hint}", first_line + test.lineno - 1)


def _chain(node: nodes.Node) -> list[str] | None:
    """`contact.first_name` / `links["x"]` as ["contact", "first_name"]; None if not a pure path."""
    if isinstance(node, nodes.Name):
        return [node.name]
    if isinstance(node, nodes.Getattr):
        head = _chain(node.node)
        return None if head is None else head + [node.attr]
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        head = _chain(node.node)
        return None if head is None else head + [node.arg.value]
    return None


def _targets(node: nodes.Node) -> set[str]:
    return {n.name for n in node.find_all(nodes.Name)} | ({node.name} if isinstance(node, nodes.Name) else set())


def _paths(ast: nodes.Node, undeclared: set[str]) -> list[tuple[str, int]]:
    """Dotted paths whose root is a template input, with their lines (relative to the source).

    Names bound by for/macro/call/with are local inside their blocks; names
    bound by `set` are already excluded by find_undeclared_variables.
    """
    out: list[tuple[str, int]] = []

    def visit(node: nodes.Node, local: frozenset[str]) -> None:
        if isinstance(node, (nodes.Name, nodes.Getattr, nodes.Getitem)) and getattr(node, "ctx", "load") == "load":
            chain = _chain(node)
            if chain is not None:
                if chain[0] in undeclared and chain[0] not in local:
                    out.append((".".join(chain), node.lineno))
                return
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            visit(node.node.node, local)  # `x.y.upper()`: the path is x.y, not x.y.upper
            for arg in (*node.args, *node.kwargs, node.dyn_args, node.dyn_kwargs):
                if arg is not None:
                    visit(arg, local)
            return
        if isinstance(node, nodes.For):
            visit(node.iter, local)
            inner = local | _targets(node.target) | {"loop"}
            for child in (*node.body, *node.else_):
                visit(child, inner)
            if node.test is not None:
                visit(node.test, inner)
            return
        if isinstance(node, (nodes.Macro, nodes.CallBlock)):
            if isinstance(node, nodes.CallBlock):
                visit(node.call, local)
            for default in node.defaults:
                visit(default, local)
            inner = local | {a.name for a in node.args} | {"caller", "varargs", "kwargs"}
            for child in node.body:
                visit(child, inner)
            return
        if isinstance(node, nodes.With):
            for value in node.values:
                visit(value, local)
            inner = local | set().union(*(_targets(t) for t in node.targets)) if node.targets else local
            for child in node.body:
                visit(child, frozenset(inner))
            return
        for child in node.iter_child_nodes():
            visit(child, local)

    visit(ast, frozenset())
    return out


# ---------------------------------------------------------------------------
# Rendering

_ENVIRONMENTS: dict[bool, BudgetSandbox] = {
    autoescape: BudgetSandbox(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True)
    for autoescape in (False, True)
}
# Both environments have Jinja2's default globals (range, dict, namespace, ...)
# and nobody adds any: one plain copy serves every render (see `_render`).
_GLOBALS: dict[str, Any] = dict(_ENVIRONMENTS[False].globals)


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, html: bool) -> jinja2.Template:
    return _ENVIRONMENTS[html].from_string(source)


def render_template(template: Template, context: Mapping[str, Any]) -> RenderedMessage:
    """Render subject and body; the template's `links` are visible unless the context sets them.

    Raises TemplateRenderError (with the file line when known) on a missing
    variable, a sandbox violation or any other failure while rendering.
    """
    # The globals and the values, merged once for both renders of the message.
    values = {**_GLOBALS, "links": dict(template.links), **context}
    html = template.is_html
    subject = None
    with budget():  # one per message, subject and body together (fsl/sandbox.py)
        if template.subject is not None:
            raw = _render(template, template.subject, False, values, template.subject_line or 1)
            subject = " ".join(raw.split())
        body = _render(template, template.body, html, values, template.body_line)
    if html:
        return RenderedMessage(subject=subject, text=html_to_text(body), html=body.strip())
    return RenderedMessage(subject=subject, text=body.strip())


def _render(template: Template, source: str, html: bool, values: dict[str, Any], first_line: int) -> str:
    """`jinja2.Template.render(values)` without its per-call copies.

    `render` copies the values, then merges them into a copy of the globals
    (a ChainMap walk): two dict copies per render, twice per message, which
    was a third of the rendering time of a tick.  `values` already holds the
    globals, so the context can share it (`shared=True`: Jinja2 then takes
    the dict as is; templates write their own `{% set %}` into the context's
    own `vars`, never into it).  Failures go through `handle_exception` as in
    `render`, which rewrites the traceback to template lines.

    Why `jinja2.runtime.new_context` and not the public `Template.new_context`:
    the public one hands the template's ChainMap of globals to the context,
    which walks its keys on every render: measured 4.3 -> 6.8 us a render
    (two a message). jinja2 is pinned below 3.2 in pyproject.toml for it."""
    compiled = _compiled(source, html)
    env = compiled.environment
    try:
        context = new_context(env, compiled.name, compiled.blocks, values, True, _GLOBALS, None)
        return render_parts(compiled.root_render_func(context))
    except Exception:  # noqa: BLE001 - any failure of user code in the sandbox
        try:
            env.handle_exception()
        except Exception as rewritten:  # noqa: BLE001 - the same failure, its traceback in template lines
            exc = rewritten
        line = first_line + _template_lineno(exc) - 1
        message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else str(exc)
        raise TemplateRenderError(f"cannot render template {template.name!r}: {message}", line, template.path) from exc


def _template_lineno(exc: BaseException) -> int:
    """The template line of the failure: Jinja2 rewrites tracebacks to name `<template>`."""
    line = 1
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class _TextExtractor(HTMLParser):
    """HTML -> readable plain text for the text/plain part of an HTML email."""

    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
                         "ul", "ol", "table", "blockquote", "hr", "section", "article"})
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.hrefs: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href"))
            self.parts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        elif tag == "a" and self.hrefs:
            href = self.hrefs.pop()
            if href and not "".join(self.parts[-3:]).rstrip().endswith(href):
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Strip tags, keep paragraphs and link targets, collapse whitespace."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
