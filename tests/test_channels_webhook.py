"""The webhook adapter against a real loopback HTTP server (tests/http_sink.py),
plus the stored adapters and the adapter pool."""
from __future__ import annotations


import pytest

from fsl.config import Channel, Config
from fsl.delivery import OutMessage
from fsl.delivery.channels import AdapterPool, make_adapter
from fsl.delivery.channels.webhook import WebhookAdapter

from .http_sink import HttpSink
from .smtp_sink import free_port


def channel(url: str, **settings) -> Channel:
    return Channel(name="sms", adapter="webhook", settings={"url": url, "timeout": 2, **settings})


def message(key: str = "7:offer:0:2", **kw) -> OutMessage:
    base = dict(key=key, channel="sms", kind="send", to="+15550100", subject=None, text="20% off until Friday",
                payload={"playbook": "winback", "step": "offer", "contact": "c1"})
    base.update(kw)
    return OutMessage(**base)


def test_posts_json_with_idempotency_key_and_auth():
    with HttpSink() as sink:
        adapter = make_adapter(channel(sink.url + "/sms", token="tok-SECRET-1", headers={"X-Api-Key": "k-SECRET-2"}))
        assert isinstance(adapter, WebhookAdapter)
        result = adapter.deliver(message())
        adapter.deliver(message(key="7:offer:1:2"))
        adapter.close()
    assert result.status == "delivered" and result.detail == "HTTP 200"
    first = sink.requests[0]
    assert first.method == "POST" and first.path == "/sms"
    assert first.headers["Idempotency-Key"] == "7:offer:0:2"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Authorization"] == "Bearer tok-SECRET-1" and first.headers["X-Api-Key"] == "k-SECRET-2"
    assert first.json == {"key": "7:offer:0:2", "channel": "sms", "kind": "send", "to": "+15550100",
                          "subject": None, "text": "20% off until Friday", "html": None,
                          "payload": {"playbook": "winback", "step": "offer", "contact": "c1"}}
    assert sink.requests[1].headers["Idempotency-Key"] == "7:offer:1:2"


def test_statuses():
    with HttpSink() as sink:
        adapter = WebhookAdapter(channel(sink.url + "/hook?token=q-SECRET-3", token="tok-SECRET-1"))
        sink.respond(500, "upstream down; your token was tok-SECRET-1")
        sink.respond(429, headers={"Retry-After": "120"})
        sink.respond(503, headers={"Retry-After": "soon"})
        sink.respond(400, '{"error": "bad phone"}')
        sink.respond(404)
        sink.respond(301, headers={"Location": "/elsewhere"})
        sink.respond(201)
        results = [adapter.deliver(message(key=f"k{i}")) for i in range(7)]
        adapter.close()
    statuses = [r.status for r in results]
    assert statuses == ["retry", "retry", "retry", "failed", "failed", "failed", "delivered"]
    assert results[0].retry_after is None and "HTTP 500" in results[0].detail
    assert results[1].retry_after == 120.0
    assert results[2].retry_after is None
    assert "bad phone" in results[3].detail
    assert "redirects" in results[5].detail
    for r in results:  # secrets never reach a detail
        assert "SECRET" not in r.detail, r.detail


def test_timeout_and_connection_refused_retry():
    with HttpSink() as sink:
        adapter = WebhookAdapter(channel(sink.url, timeout=0.2))
        sink.respond(200, delay=0.6)
        slow = adapter.deliver(message())
        adapter.close()
    assert slow.status == "retry" and "no answer" in slow.detail
    refused = WebhookAdapter(channel(f"http://127.0.0.1:{free_port()}/x")).deliver(message())
    assert refused.status == "retry" and "connection error" in refused.detail
    unset_url = Channel(name="sms", adapter="webhook", settings={"url": None})  # `url: ${UNSET}`
    assert WebhookAdapter(unset_url).deliver(message()).status == "failed"
    with pytest.raises(ValueError, match="http"):  # refused when fsl.yaml is loaded, not at a send
        channel("ftp://example.invalid/x")


def test_stored_adapters_and_pool(tmp_path):
    config = Config(path=tmp_path / "fsl.yaml", root=tmp_path, sequences=tmp_path, templates=tmp_path,
                    channels={"linkedin": Channel(name="linkedin", adapter="task"),
                              "sms": channel("http://127.0.0.1:9/x")})
    pool = AdapterPool(config)
    task = message(kind="task", channel="call", to="rep@acme.example")
    note = message(kind="notify", channel="notify", to="boss@acme.example")
    send_task = message(channel="linkedin")
    assert pool.get(task).deliver(task).status == "delivered"
    assert pool.get(note).deliver(note).status == "delivered"
    assert pool.get(send_task).deliver(send_task).status == "delivered"
    assert pool.get(message(channel="fax")) is None
    assert pool.get(message()) is pool.get(message())  # one adapter per channel, reused
    log = make_adapter(Channel(name="dry", adapter="log"))
    assert log.deliver(message()).detail == "logged"
    pool.close()
