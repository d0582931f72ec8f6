"""`renderer: llm` end to end against a real OpenAI-compatible server on loopback (tests/llm_server.py)."""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from fsl.config import LLMConfig
from fsl.llm import (
    GUARDS,
    GuardSettings,
    LLMClient,
    LLMNotConfigured,
    MemoryCache,
    ModelUnavailable,
    RenderJob,
    contact_context,
    render_llm,
    render_llm_sync,
    render_many,
    render_many_sync,
)
from fsl.store import open_store
from fsl.store.cache import SqlRenderCache
from fsl.templates import parse_template

from tests.llm_server import FakeLLMServer, Reply

KEY = "sk-fsl-TEST-9f8e7d6c5b4a-DO-NOT-LEAK"
CASE = "https://acme.example/cases/northwind"
TEMPLATE = parse_template(f"""---
subject: "Next steps for {{{{ deal.name }}}}"
renderer: llm
max_words: 120
avoid: ["just checking in", "touching base"]
links:
  case_study: "{CASE}"
---
Write a short, warm follow-up to {{{{ contact.first_name }}}} at {{{{ contact.company }}}} about {{{{ deal.name }}}}.
Their pain point: {{{{ deal.pain_point }}}}.
""", Path("recap.md"), "recap")

DANA = {"id": "c1", "first_name": "Dana", "company": "Northwind", "email": "dana@northwind.example"}
ELI = {"id": "c2", "first_name": "Eli", "company": "Globex", "email": "eli@globex.example"}


@pytest.fixture
def server():
    with FakeLLMServer() as s:
        yield s


def client_for(server: FakeLLMServer, **kw) -> LLMClient:
    """A client with tiny backoffs; LLMConfig fields and LLMClient options both go in `kw`."""
    cfg = dict(base_url=server.base_url, model="fake-model", api_key=KEY, timeout_seconds=2.0, concurrency=4,
               max_retries=2)
    cfg.update({k: kw.pop(k) for k in list(kw) if k in cfg})
    return LLMClient(LLMConfig(**cfg), backoff_base=0.01, **kw)


def job(contact=DANA, deal_name="Northwind rollout", offer=None) -> RenderJob:
    context = contact_context(contact, deal={"name": deal_name, "pain_point": "slow onboarding"}, offer=offer)
    guards = GuardSettings.for_message(TEMPLATE, contact=contact, sender="Ana Ruiz <ana@acme.example>", offer=offer)
    return RenderJob(TEMPLATE, context, guards)


def render(server, client=None, cache=None, j=None):
    j = j or job()
    return render_llm_sync(j.template, j.context, j.guards, client or client_for(server), cache)


def failing(attempt) -> set[str]:
    return {v.guard for v in attempt.verdicts if not v.passed}


# -- the happy path -------------------------------------------------------------------------


def test_good_answer_is_ok(server):
    out = render(server)
    assert out.status == "ok" and not out.cached and len(out.attempts) == 1
    assert all(v.passed for v in out.verdicts) and [v.guard for v in out.verdicts] == ["format", *GUARDS]
    assert CASE in out.draft.body
    request = server.requests[0]
    assert request["model"] == "fake-model"
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["strict"] is True
    assert server.authorizations == [f"Bearer {KEY}"]


def test_prompt_holds_the_rendered_template_and_rules(server):
    render(server)
    system, user = server.requests[0]["messages"]
    assert user["role"] == "user" and "Suggested subject: Next steps for Northwind rollout" in user["content"]
    assert "follow-up to Dana at Northwind" in user["content"]
    assert "at most 120 words" in system["content"] and '"just checking in"' in system["content"]
    assert CASE in system["content"] and "Do not mention any discount" in system["content"]


def test_fenced_json_answer_is_accepted(server):
    server.queue(Reply.raw('```json\n{"subject": "Next steps", "body": "See %s. Best, Ana"}\n```' % CASE))
    out = render(server)
    assert out.status == "ok" and out.draft.subject == "Next steps"


# -- each guard broken once, then fixed on the re-ask ----------------------------------------


@pytest.mark.parametrize("broken,guards", [
    ("subject", {"subject"}), ("body", {"body"}), ("max_words", {"max_words"}), ("avoid", {"avoid"}),
    ("offer", {"offer"}), ("emails", {"emails"}), ("phones", {"phones"}),
    ("links_missing", {"links"}), ("links_extra", {"links"}),
])
def test_guard_broken_once_then_fixed(server, broken, guards):
    server.queue(Reply.breaking(broken))
    out = render(server)
    assert out.status == "ok" and len(out.attempts) == 2 and server.count == 2
    first, second = out.attempts
    assert guards <= failing(first) and first.draft is not None
    assert second.passed
    # the re-ask carries the reasons, after the model's own answer
    reask = server.requests[1]["messages"]
    assert reask[-2]["role"] == "assistant" and reask[-1]["role"] == "user"
    for v in first.verdicts:
        if not v.passed:
            assert v.reason in reask[-1]["content"]
    journal = json.loads(json.dumps(out.to_journal()))
    assert [len(a["verdicts"]) for a in journal["attempts"]] == [1 + len(GUARDS)] * 2


def test_broken_three_times_is_held_with_reasons(server):
    server.queue(Reply.breaking("offer"), Reply.breaking("phones"), Reply.breaking("offer"))
    cache = MemoryCache()
    out = render(server, cache=cache)
    assert out.status == "held" and server.count == 3 and len(out.attempts) == 3
    assert [failing(a) for a in out.attempts] == [{"offer"}, {"phones"}, {"offer"}]
    assert out.reasons and out.reasons[0].startswith("offer: mentions \"40%\"")
    assert "40% off" in out.draft.body  # the last draft, for the reviewer
    assert len(cache) == 0  # a held render is never cached
    assert len(out.to_journal()["attempts"]) == 3


def test_non_json_is_reasked_then_held(server):
    server.queue(Reply.raw("Sure! Here is your email: Hi Dana..."), Reply.raw("nope"), Reply.raw("<html>"))
    out = render(server)
    assert out.status == "held" and server.count == 3 and out.draft is None
    assert all(failing(a) == {"format"} for a in out.attempts)
    assert "not a JSON object" in out.reasons[0]
    assert "format: the answer is not a JSON object" in server.requests[1]["messages"][-1]["content"]


def test_non_json_once_then_good(server):
    server.queue(Reply.raw('{"subject": "S"'))
    out = render(server)
    assert out.status == "ok" and [failing(a) for a in out.attempts] == [{"format"}, set()]


def test_max_reasks_zero_holds_at_once(server):
    server.queue(Reply.breaking("avoid"))
    j = job()
    out = render_llm_sync(j.template, j.context, j.guards, client_for(server), None, max_reasks=0)
    assert out.status == "held" and server.count == 1


# -- transport failures ---------------------------------------------------------------------


def test_500_then_success(server):
    server.queue(Reply.error(500), Reply.error(503))
    client = client_for(server)
    out = render(server, client)
    assert out.status == "ok" and server.count == 3 and client.stats.retries == 2
    assert len(out.attempts) == 1  # transport retries are not re-asks


def test_500_forever_is_held(server):
    server.queue(*[Reply.error(500)] * 3)
    out = render(server)
    assert out.status == "held" and server.count == 3
    assert out.reasons == ("model: model unavailable: HTTP 500 from the endpoint: fake error 500 (3 attempts)",)


def test_429_retry_after_is_honoured(server):
    server.queue(Reply.error(429, {"Retry-After": "1"}))
    client = client_for(server)
    out = render(server, client)
    assert out.status == "ok" and server.count == 2 and client.stats.rate_limited == 1
    # the retry came no sooner than asked (a busy machine only makes the gap longer)
    assert server.arrivals[1] - server.arrivals[0] >= 0.95


def test_429_asking_too_long_a_wait_is_held_at_once(server):
    server.queue(Reply.error(429, {"Retry-After": "3600"}))
    out = render(server, client_for(server, max_retry_after=5))
    assert out.status == "held" and server.count == 1  # no retry: held at once
    assert "3600 s" in out.reasons[0]


def test_stall_past_the_timeout_is_held(server):
    server.queue(Reply.stall(3.0))
    client = client_for(server, timeout_seconds=0.3, max_retries=0)
    out = render(server, client)
    assert out.status == "held" and server.count == 1
    assert out.reasons == ("model: model unavailable: no answer within 0.3 s (1 attempt)",)


def test_stall_then_answer_after_retry(server):
    server.queue(Reply.stall(3.0))
    out = render(server, client_for(server, timeout_seconds=0.3, max_retries=1))
    assert out.status == "ok" and server.count == 2


def test_connection_refused_raises_model_unavailable():
    with FakeLLMServer() as dead:
        url = dead.base_url
    client = LLMClient(LLMConfig(base_url=url, model="m", api_key=KEY, max_retries=1), backoff_base=0.01)
    with pytest.raises(ModelUnavailable) as info:
        asyncio.run(client.complete([{"role": "user", "content": "hi"}]))
    assert "cannot reach the endpoint" in info.value.reason and info.value.attempts == 2


def test_response_format_fallback_to_json_object_then_plain():
    with FakeLLMServer(reject_formats={"json_schema"}) as server:
        client = client_for(server)
        assert render(server, client).status == "ok"
        assert [r.get("response_format", {}).get("type") for r in server.requests] == ["json_schema", "json_object"]
        assert client.mode == "json_object"
        assert render(server, client, j=job(ELI)).status == "ok"  # remembered: no second refusal
        assert server.requests[-1]["response_format"]["type"] == "json_object"
    with FakeLLMServer(reject_formats={"json_schema", "json_object"}) as server:
        client = client_for(server)
        assert render(server, client).status == "ok" and client.mode == "plain"
        last = server.requests[-1]
        assert "response_format" not in last and '"additionalProperties": false' in last["messages"][0]["content"]


def test_400_for_another_reason_is_held_without_downgrading(server):
    server.queue(Reply.error(400, body={"error": {"message": "This model's maximum context length is 8192 tokens"}}))
    client = client_for(server)
    out = render(server, client)
    assert out.status == "held" and server.count == 1 and client.mode == "json_schema"
    assert "maximum context length" in out.reasons[0]


# -- the cache --------------------------------------------------------------------------------


def _numbered(server: FakeLLMServer) -> None:
    """Every answer differs, so equal texts can only come from the cache."""
    def respond(request):
        return Reply.raw(json.dumps({"subject": f"Version {server.count}", "body": f"See {CASE}. Best, Ana"}))
    server.responder = respond


def test_cache_reuse_returns_identical_text_without_a_request(server):
    _numbered(server)
    cache = MemoryCache()
    client = client_for(server)
    first = render(server, client, cache)
    second = render(server, client, cache)
    assert server.count == 1 and second.cached and not first.cached
    assert second.draft == first.draft and second.draft.subject == "Version 1"
    assert second.cache_key == first.cache_key
    other = render(server, client, cache, job(ELI))  # another contact: another prompt, another key
    assert other.cache_key != first.cache_key and server.count == 2


def test_cache_key_changes_with_guards(server):
    _numbered(server)
    cache = MemoryCache()
    a = render(server, cache=cache)
    b = render(server, cache=cache, j=job(offer={"percent": 10, "expires": None}))
    assert a.cache_key != b.cache_key and server.count == 2


def test_store_cache_survives_a_restart(server, tmp_path):
    _numbered(server)
    url = f"sqlite:///{tmp_path / 'fsl.db'}"
    db = open_store(url)
    try:
        first = render(server, cache=SqlRenderCache(db))
    finally:
        db.dispose()
    db = open_store(url)  # a new process after a crash: new client, new connection
    try:
        again = render(server, client_for(server), SqlRenderCache(db))
    finally:
        db.dispose()
    assert again.cached and again.draft == first.draft and server.count == 1


def test_racing_renders_of_one_step_converge_on_one_text(server):
    _numbered(server)
    cache = MemoryCache()
    outs = render_many_sync([job(), job()], client_for(server), cache)
    assert server.count == 2  # both missed the cache ...
    assert outs[0].draft == outs[1].draft  # ... and the first writer won for both


# -- many renders, one contact per prompt ------------------------------------------------------


def test_render_many_bounds_concurrency_and_keeps_order():
    with FakeLLMServer(latency=0.05) as server:
        contacts = [dict(DANA, id=f"c{i}", first_name=f"Person{i:02d}") for i in range(12)]
        client = client_for(server, concurrency=3)
        outs = render_many_sync([job(c) for c in contacts], client, MemoryCache())
        assert [o.status for o in outs] == ["ok"] * 12
        assert server.max_in_flight == 3
        for request in server.requests:  # each prompt names exactly one contact
            text = json.dumps(request["messages"])
            assert sum(f"Person{i:02d}" in text for i in range(12)) == 1
            assert "ana@acme.example" not in text  # the sender's address is a guard setting, not prompt data


def test_requests_waiting_for_the_format_probe_go_side_by_side_once_it_is_proven():
    # One request finds the response format the server takes while the others wait; once it
    # has, the ones that waited must not each take the probe in turn (one at a time).
    with FakeLLMServer(latency=0.3) as server:
        client = client_for(server, concurrency=8)
        outs = render_many_sync([job(dict(DANA, first_name=f"P{i}")) for i in range(9)], client, MemoryCache())
        assert [o.status for o in outs] == ["ok"] * 9
        assert server.count == 9 and server.max_in_flight == 8


def test_concurrency_limit_is_per_endpoint_not_per_client():
    with FakeLLMServer(latency=0.02) as server:
        a, b = client_for(server, concurrency=2), client_for(server, concurrency=2, model="other-model")

        async def both():
            return await asyncio.gather(render_many([job(dict(DANA, first_name=f"A{i}")) for i in range(5)], a),
                                        render_many([job(dict(DANA, first_name=f"B{i}")) for i in range(5)], b))

        results = asyncio.run(both())
        assert all(o.status == "ok" for outs in results for o in outs)
        assert server.count == 10 and server.max_in_flight == 2


def test_429_pauses_every_request_to_the_endpoint():
    with FakeLLMServer(latency=0.01) as server:
        server.queue(Reply.error(429, {"Retry-After": "0.4"}))
        client = client_for(server, concurrency=1)
        outs = render_many_sync([job(dict(DANA, first_name=f"P{i}")) for i in range(3)], client)
        assert [o.status for o in outs] == ["ok"] * 3 and server.count == 4
        assert all(t - server.arrivals[0] >= 0.38 for t in server.arrivals[1:])


def test_contact_context_is_for_one_contact():
    ctx = contact_context(DANA, deal={"name": "N"}, values={"topic": "pricing"})
    assert ctx == {"contact": DANA, "deal": {"name": "N"}, "stakeholder": None, "offer": None, "vars": {},
                   "topic": "pricing"}
    assert ctx["contact"] is not DANA
    with pytest.raises(ValueError):
        contact_context(DANA, values={"contact": ELI})


# -- secrets ----------------------------------------------------------------------------------


def test_api_key_never_leaks(server, caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(server, max_retries=1)
    server.queue(Reply.error(500, echo_auth=True), Reply.error(401, echo_auth=True))
    with pytest.raises(ModelUnavailable) as info:
        asyncio.run(client.complete([{"role": "user", "content": "hi"}]))
    exc = info.value
    assert server.authorizations == [f"Bearer {KEY}"] * 2  # the server did get the key ...
    assert exc.status == 401 and "bad credentials" in str(exc)
    for text in (str(exc), repr(exc), exc.reason, repr(client), caplog.text, repr(exc.__cause__), repr(exc.__context__)):
        assert KEY not in text  # ... and nothing of ours repeats it
    assert exc.__cause__ is None and exc.__context__ is None
    server.queue(Reply.error(403, echo_auth=True))
    out = render(server, client)
    assert out.status == "held" and KEY not in json.dumps(out.to_journal()) and KEY not in repr(out)
    assert KEY not in caplog.text
    assert "Bearer [redacted]" in out.reasons[0]


def test_missing_key_does_not_borrow_openai_api_key(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    client = LLMClient(LLMConfig(base_url=server.base_url, model="m", api_key=None))
    asyncio.run(client.complete([{"role": "user", "content": "hi"}]))
    assert server.authorizations == ["Bearer unset"]


# -- misuse -----------------------------------------------------------------------------------


def test_unconfigured_llm_block():
    with pytest.raises(LLMNotConfigured, match="base_url and model"):
        LLMClient(LLMConfig())


def test_prompt_that_cannot_render_is_held(server):
    context = contact_context({"first_name": "Dana"}, deal={"name": "N"})  # no company, no pain_point
    guards = GuardSettings.for_message(TEMPLATE, contact={})
    out = render_llm_sync(TEMPLATE, context, guards, client_for(server))
    assert out.status == "held" and server.count == 0 and out.reasons[0].startswith("prompt: cannot render")


def test_sync_wrapper_refuses_a_running_loop(server):
    j = job()

    async def inner():
        with pytest.raises(RuntimeError, match="running event loop"):
            render_llm_sync(j.template, j.context, j.guards, client_for(server))
        return await render_llm(j.template, j.context, j.guards, client_for(server))

    assert asyncio.run(inner()).status == "ok"
