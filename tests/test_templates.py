"""Message templates: lookup, front matter, variables, sandboxed rendering."""
from __future__ import annotations

from pathlib import Path

import pytest

from fsl.templates import (
    RenderedMessage,
    TemplateAmbiguous,
    TemplateError,
    TemplateNotFound,
    TemplateRenderError,
    TemplateStore,
    html_to_text,
    load_template,
    render_template,
)

from .conftest import CONFORMANCE  # noqa: E402

TEMPLATES = CONFORMANCE / "templates"


@pytest.fixture(scope="module")
def store() -> TemplateStore:
    return TemplateStore(TEMPLATES)


def make(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- lookup ------------------------------------------------------------------------


def test_lookup_found_and_cached(store):
    recap = store.lookup("recap")
    assert recap.name == "recap"
    assert recap.path == TEMPLATES / "recap.md"
    assert store.lookup("recap") is recap
    assert "recap" in store.names() and "winback_listened" in store.names()
    assert "recap" in store


def test_lookup_not_found_has_candidates(store):
    with pytest.raises(TemplateNotFound) as info:
        store.lookup("recapp")
    assert "recap" in info.value.candidates
    assert info.value.suggestion == "recap"
    assert "recapp" in str(info.value)


def test_lookup_refuses_paths(store):
    with pytest.raises(TemplateNotFound):
        store.lookup("../templates/recap")


def test_lookup_ambiguous(tmp_path):
    make(tmp_path, "recap.md", "Hi")
    make(tmp_path, "recap.html", "<p>Hi</p>")
    make(tmp_path, "other.md", "Hi")
    folder = TemplateStore(tmp_path)
    with pytest.raises(TemplateAmbiguous) as info:
        folder.lookup("recap")
    assert sorted(p.name for p in info.value.paths) == ["recap.html", "recap.md"]
    assert folder.lookup("other").body == "Hi"
    assert folder.names() == ["other", "recap"]


def test_missing_folder_has_no_templates(tmp_path):
    folder = TemplateStore(tmp_path / "nope")
    assert folder.names() == []
    with pytest.raises(TemplateNotFound) as info:
        folder.lookup("recap")
    assert info.value.candidates == ()


# -- front matter and variables ------------------------------------------------------


def test_recap(store):
    recap = store.lookup("recap")
    assert recap.subject == "Recap: {{ deal.name }}"
    assert recap.renderer == "template"
    assert recap.body_line == 5
    assert recap.body.startswith("Hi {{ contact.first_name }}")
    assert recap.variables == {"contact.first_name", "deal.name", "tone"}
    assert recap.top_level_variables == {"contact", "deal", "tone"}
    assert recap.variable_lines["deal.name"] == 2
    assert recap.variable_lines["tone"] == 5
    assert not recap.is_html


def test_winback_listened(store):
    template = store.lookup("winback_listened")
    assert {"offer.percent", "offer.expires", "contact.first_name"} <= template.variables
    assert not any(v.startswith(("deal", "links")) for v in template.variables)
    assert template.renderer == "llm"
    assert template.max_words == 200


def test_proposal_checkin_links(store):
    template = store.lookup("proposal_checkin")
    assert template.links == {
        "case_study": "https://acme.example/cases/northwind",
        "pricing": "https://acme.example/pricing",
    }
    assert "links.case_study" in template.variables
    assert template.body_line == 7


def test_reactivate_value_guards(store):
    template = store.lookup("reactivate_value")
    assert template.avoid == ("just checking in", "touching base", "following up")
    assert template.max_words == 150


def test_no_front_matter(tmp_path):
    template = load_template(make(tmp_path, "plain.md", "Hello {{ contact.first_name }}\n"))
    assert template.subject is None
    assert template.body_line == 1
    assert template.variables == {"contact.first_name"}
    assert template.links == {} and template.avoid == ()


def test_local_names_are_not_variables(tmp_path):
    text = (
        "{% set greeting = 'Hi' %}{{ greeting }}\n"
        "{% for item in deal.items %}{{ item.name }} {{ loop.index }}{% endfor %}\n"
        "{{ contact.first_name.upper() }} {{ vars['angle'] }} {{ contact.tags | join(', ') }}\n"
        "{% macro m(x) %}{{ x.y }}{% endmacro %}{{ m(offer) }}\n"
    )
    template = load_template(make(tmp_path, "t.md", text))
    assert template.variables == {"deal.items", "contact.first_name", "vars.angle", "contact.tags", "offer"}
    assert template.variable_lines["vars.angle"] == 3


@pytest.mark.parametrize(
    "text, line",
    [
        ("---\nsubject: [unclosed\n---\nbody\n", 3),
        ("---\nsubject: Hi\nbody without end\n", 1),
        ("---\nmax_words: many\n---\nbody\n", 2),
        ("---\nsubject: Hi\navoid: just checking in\n---\nbody\n", 3),
        ("---\nlinks: [a, b]\n---\nbody\n", 2),
        ("---\nlinks:\n  a: 1\n---\nbody\n", 2),
        ("---\nrenderer: gpt\n---\nbody\n", 2),
        ("---\nmax_word: 20\n---\nbody\n", 2),
        ("---\nsubject: Hi\n---\nline one\n{{ contact.first_name \n", 5),
        ("---\nsubject: Hi\n---\n{% if x %}never closed\n", 4),
        ("---\nsubject: \"{{ deal.name \"\n---\nbody\n", 2),
        ("{{ x | no_such_filter }}\n", 1),
    ],
)
def test_template_errors_have_lines(tmp_path, text, line):
    with pytest.raises(TemplateError) as info:
        load_template(make(tmp_path, "bad.md", text))
    assert info.value.line == line
    assert info.value.path == tmp_path / "bad.md"


# -- rendering -----------------------------------------------------------------------


CONTEXT = {"contact": {"first_name": "Ana"}, "deal": {"name": "Northwind"}}


def test_render_recap(store):
    message = render_template(store.lookup("recap"), {**CONTEXT, "tone": "warm"})
    assert message == RenderedMessage(
        subject="Recap: Northwind",
        text="Hi Ana, thanks for the time today (warm). Next steps below.",
        html=None,
    )


def test_render_sees_links(store):
    message = render_template(store.lookup("proposal_checkin"), CONTEXT)
    assert message.text.endswith("https://acme.example/cases/northwind")


def test_strict_undefined(store):
    with pytest.raises(TemplateRenderError) as info:
        render_template(store.lookup("recap"), CONTEXT)  # no `tone`
    assert "tone" in str(info.value)
    assert info.value.line == 5
    with pytest.raises(TemplateRenderError):
        render_template(store.lookup("winback_last"), {**CONTEXT, "offer": None})


def test_optional_offer(store):
    template = store.lookup("winback_listened")
    assert "Offer" not in render_template(template, {**CONTEXT, "offer": None}).text
    offered = render_template(template, {**CONTEXT, "offer": {"percent": 10, "expires": "2026-12-01"}})
    assert "Offer 10% off until 2026-12-01." in offered.text


def test_sandbox_blocks_dunder_access(tmp_path):
    template = load_template(make(tmp_path, "evil.md", "{{ ''.__class__.__mro__ }}"))
    with pytest.raises(TemplateRenderError):
        render_template(template, {})
    template = load_template(make(tmp_path, "evil2.md", "{{ contact.__init__.__globals__ }}"))
    with pytest.raises(TemplateRenderError):
        render_template(template, {"contact": object()})


def test_html_autoescape(tmp_path):
    path = make(
        tmp_path,
        "news.html",
        "---\nsubject: \"News for {{ contact.first_name }}\"\n---\n"
        "<p>Hi {{ contact.first_name }},</p>\n<p><a href=\"https://x.example\">read</a></p>\n",
    )
    template = load_template(path)
    assert template.is_html
    message = render_template(template, {"contact": {"first_name": "<b>Bo & Co</b>"}})
    assert "&lt;b&gt;Bo &amp; Co&lt;/b&gt;" in message.html
    assert "<b>" not in message.html
    assert message.subject == "News for <b>Bo & Co</b>"  # a header, not HTML
    assert message.text.splitlines()[0] == "Hi <b>Bo & Co</b>,"
    assert "read (https://x.example)" in message.text


def test_markdown_is_not_escaped(tmp_path):
    template = load_template(make(tmp_path, "m.md", "Hi {{ name }}"))
    assert render_template(template, {"name": "A & B"}).text == "Hi A & B"


def test_html_to_text():
    assert html_to_text("<style>p{}</style><p>One</p><p>Two<br>Three</p>") == "One\n\nTwo\nThree"
