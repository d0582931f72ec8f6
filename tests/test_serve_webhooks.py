"""Provider webhooks end to end (SIGNALS.md 2): a real `fsl serve` process over
HTTP, each provider's documented payload (tests/fixtures/providers), signed
with keys generated here (ECDSA P-256 for SendGrid, HMAC for Mailgun, basic
credentials for Postmark, an RSA certificate for SNS).

The messages the events concern were really sent: a tick delivers the
`welcome` playbook's `hello` to a real SMTP server (aiosmtpd), whose final
reply to DATA is kept as the provider id (scripted per address to look like
SendGrid's, Postmark's and SES's).  Each test uses its own contacts.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import os
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from fsl.signals.providers import sns

from .smtp_sink import SmtpSink, free_port
from .test_ops_support import cli, make_project
from .test_serve import HELLO, PRICING, db, populate_and_tick, stop

FIX = Path(__file__).parent / "fixtures" / "providers"
UTC = timezone.utc
SECRET = "webhook-test-secret-0123456789abcdef"
MG_KEY = "mailgun-signing-key-generated-for-tests"
PM_PASSWORD = "postmark-password-for-tests"
TOPIC = "arn:aws:sns:us-east-1:123456789012:fsl-events"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"
SNS_HOST = "sns.us-east-1.amazonaws.com"
# what the SMTP server answers DATA with, per address: the provider's id of the message
SENDGRID_ID = "4BXYZ7Qd2kz1QrsT"
POSTMARK_ID = "7c5d2e4a-1b3f-4c8e-9a6d-0e2f4b6c8a10"
SES_ID = "0100018c5a6b7c8d-3f2e1d0c-aaaa-bbbb-cccc-123456789abc-000000"
REPLIES = {"user2@example.com": f"250 Ok: queued as {SENDGRID_ID}", "user3@example.com": f"250 Ok {POSTMARK_ID}",
           "user4@example.com": f"250 Ok {SES_ID}"}

CONFIG = """
server:
  base_url: http://127.0.0.1:{port}
  listen: 127.0.0.1:{port}
  secret: ${{FSL_SERVER_SECRET}}
  max_body: 65536
webhooks:
  soft_bounce_after: 1 hour
  sendgrid: {{public_key: "{sg_public}"}}
  mailgun: {{signing_key: "${{MG_KEY}}"}}
  postmark: {{username: fsl, password: "${{PM_PASSWORD}}"}}
  ses: {{topic_arn: "{topic}", certificate_file: sns-cert.pem}}
"""


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def fixture(name: str):
    return json.loads((FIX / name).read_text())


# ---------------------------------------------------------------- keys and certificates made here

def _cert(subject: str, key, issuer_key=None, issuer: str | None = None, *, ca: bool = False, san: str | None = None):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now() - timedelta(days=1))
               .not_valid_after(now() + timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class Keys:
    def __init__(self, folder: Path) -> None:
        self.sendgrid = ec.generate_private_key(ec.SECP256R1())
        der = self.sendgrid.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        self.sendgrid_public = base64.b64encode(der).decode()
        self.sns = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (folder / "sns-cert.pem").write_bytes(_pem(_cert("sns.amazonaws.com", self.sns)))
        # a CA the fsl serve process trusts (SSL_CERT_FILE) and the SNS host's certificate it signed:
        # the subscription is confirmed over real TLS, through a proxy that leads to our server
        ca_key = ec.generate_private_key(ec.SECP256R1())
        host_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_file = folder / "test-ca.pem"
        self.ca_file.write_bytes(_pem(_cert("fsl test CA", ca_key, ca=True)))
        self.host_cert = folder / "sns-host.pem"
        self.host_cert.write_bytes(_pem(_cert(SNS_HOST, host_key, ca_key, "fsl test CA", san=SNS_HOST)) +
                                   host_key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))


def sendgrid_headers(key, body: bytes, at: datetime | None = None) -> dict[str, str]:
    stamp = str(int((at or now()).timestamp()))
    sig = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp, "Content-Type": "application/json"}


def mailgun_body(payload: dict, *, at: datetime | None = None, key: str = MG_KEY, token: str | None = None) -> bytes:
    stamp = str(int((at or now()).timestamp()))
    token = token or os.urandom(25).hex()
    sig = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(dict(payload, signature={"timestamp": stamp, "token": token, "signature": sig})).encode()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def sns_body(key, record: dict | None, *, message_id: str, kind: str = "Notification") -> bytes:
    env = {"Type": kind, "MessageId": message_id, "TopicArn": TOPIC,
           "Message": json.dumps(record) if record is not None else "You have chosen to subscribe to the topic.",
           "Timestamp": now().isoformat().replace("+00:00", "Z"), "SignatureVersion": "2",
           "SigningCertURL": CERT_URL}
    if kind != "Notification":
        env.update(Token="2336412f37fb687f5d51e6e2425c464de12884a9", SubscribeURL=(
            f"https://{SNS_HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37fb687f"))
    env["Signature"] = base64.b64encode(key.sign(sns.string_to_sign(env), padding.PKCS1v15(),
                                                 hashes.SHA256())).decode()
    return json.dumps(env).encode()


# ---------------------------------------------------------------- the SNS host, reached through a proxy

class _Confirmations(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):  # noqa: N802
        self.seen.append(self.path)
        body = b"<ConfirmSubscriptionResponse/>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Connect(socketserver.StreamRequestHandler):
    """An HTTP CONNECT proxy that takes every tunnel to the test's SNS host."""

    targets: list[str] = []
    upstream: tuple[str, int] = ("127.0.0.1", 0)

    def handle(self):
        line = self.rfile.readline().decode()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        self.targets.append(line.split()[1])
        with socket.create_connection(self.upstream) as up:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            threading.Thread(target=_pipe, args=(up, self.connection), daemon=True).start()
            _pipe(self.connection, up)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def sns_host(keys: Keys):
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Confirmations)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(keys.host_cert)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    _Connect.upstream = tls.server_address[:2]
    proxy = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Connect)
    proxy.daemon_threads = True
    for server in (tls, proxy):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield proxy.server_address[1]
    finally:
        for server in (tls, proxy):
            server.shutdown()
            server.server_close()


# ---------------------------------------------------------------- the served project

def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ, FSL_SERVER_SECRET=SECRET, MG_KEY=MG_KEY, PM_PASSWORD=PM_PASSWORD, **(extra or {}))
    env.pop("FSL_STORE", None)
    return env


def start(folder: Path, port: int, env: dict) -> subprocess.Popen:
    """`fsl serve` as its own process, once /healthz answers (polling a condition)."""
    log = folder / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "fsl", "serve"], cwd=folder, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("fsl serve did not answer /healthz:\n" + log.read_text())


class Served:
    def __init__(self, folder: Path, base: str, keys: Keys) -> None:
        self.folder, self.base, self.keys = folder, base, keys

    def post(self, provider: str, body: bytes, headers: dict | None = None) -> httpx.Response:
        return httpx.post(f"{self.base}/hooks/{provider}", content=body,
                          headers={"Content-Type": "application/json", **(headers or {})}, timeout=30)

    def sent(self, contact: str) -> dict:
        with db(self.folder) as conn:
            conn.row_factory = _dict
            return conn.execute("SELECT * FROM actions WHERE contact = ? AND step = 'hello'", (contact,)).fetchone()

    def events(self, where: str, *args) -> list[dict]:
        with db(self.folder) as conn:
            conn.row_factory = _dict
            rows = conn.execute(f"SELECT type, contact, step, fields, flag, source, evidence, dedup, enrollment "
                                f"FROM events WHERE type != 'signed_up' AND {where} ORDER BY id", args).fetchall()
        for r in rows:
            r["fields"] = json.loads(r["fields"])
            r["evidence"] = json.loads(r["evidence"]) if r["evidence"] else []
        return rows

    def count(self) -> int:
        with db(self.folder) as conn:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]

    def enrollment(self, contact: str) -> tuple:
        with db(self.folder) as conn:
            return conn.execute("SELECT status, outcome FROM enrollments WHERE contact = ?", (contact,)).fetchone()

    def suppressed(self, address: str) -> bool:
        with db(self.folder) as conn:
            return conn.execute("SELECT 1 FROM suppressions WHERE address = ?", (address,)).fetchone() is not None

    def metric(self, line_start: str) -> float:
        text = httpx.get(f"{self.base}/metrics").text
        found = [ln for ln in text.splitlines() if ln.startswith(line_start)]
        return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def _dict(cursor, row) -> dict:
    return {d[0]: v for d, v in zip(cursor.description, row)}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hooks")
    keys = Keys(folder)
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(SmtpSink())
        for address, reply in REPLIES.items():
            sink.answer(address, "data", reply)
        config = make_project(folder, port=sink.port)
        (folder / "templates" / "hello.md").write_text(HELLO)
        port = free_port()
        with open(config, "a") as f:
            f.write(CONFIG.format(port=port, sg_public=keys.sendgrid_public, topic=TOPIC))
        populate_and_tick(config, 12, _env(), deliver=True)  # every `hello` handed to the SMTP server
        proxy_port = stack.enter_context(sns_host(keys))
        env = _env({"HTTPS_PROXY": f"http://127.0.0.1:{proxy_port}", "SSL_CERT_FILE": str(keys.ca_file)})
        env.pop("NO_PROXY", None)
        env.pop("no_proxy", None)
        proc = start(folder, port, env)
        stack.callback(lambda: stop(proc) if proc.poll() is None else None)
        yield Served(folder, f"http://127.0.0.1:{port}", keys)


# ---------------------------------------------------------------- SendGrid

def _sendgrid_batch(served: Served) -> list[dict]:
    """The documented batch, about c0001's message (by our Message-ID), plus one event matched by
    the id SendGrid's relay answered with (c0002), one about a message we never sent, and one
    event type SendGrid does not document."""
    ours = served.sent("c0001")["message_id"]
    stamp = int(now().timestamp())
    batch = [dict(item, timestamp=stamp, **{"smtp-id": ours}) for item in fixture("sendgrid_events.json")]
    for item in batch:
        if item["event"] == "click":
            item["url"] = PRICING
    other = dict(batch[2], sg_event_id="handover-delivered-0002", sg_message_id=f"{SENDGRID_ID}.filter0001.1.2.3")
    del other["smtp-id"]
    stranger = dict(batch[2], sg_event_id="stranger-0001", sg_message_id="ZZZnotours.filter0001",
                    **{"smtp-id": "<never-sent@elsewhere.example>", "email": "who@elsewhere.example"})
    weird = dict(batch[2], sg_event_id="weird-0001", event="teleported")
    return batch + [other, stranger, weird]


def test_sendgrid_batch_signed_retried_forged_and_replayed(served):
    batch = _sendgrid_batch(served)
    body = json.dumps(batch).encode()
    headers = sendgrid_headers(served.keys.sendgrid, body)
    answer = served.post("sendgrid", body, headers)
    assert answer.status_code == 422, answer.text  # the undocumented event type, reported by item
    doc = answer.json()
    assert doc["errors"] == [{"index": 14, "reason": "unknown event type 'teleported'"}]
    assert [i["kind"] for i in doc["ignored"]] == ["processed", "group_resubscribe"]
    assert (doc["recorded"], doc["unmatched"], doc["already_recorded"]) == (12, 1, 0)

    mine = served.events("contact = 'c0001'")
    assert {r["source"] for r in mine} == {"sendgrid"}
    assert all(r["evidence"] and r["dedup"].startswith("sendgrid:") and r["step"] == "hello" for r in mine)
    by_type = {r["type"]: r for r in mine}
    assert by_type["opened"]["fields"] == {"machine": False}
    assert by_type["clicked"]["fields"] == {"url": PRICING, "link": "pricing"}
    assert {r["fields"].get("kind") for r in mine if r["type"] == "bounced"} == {"hard"}
    assert served.suppressed("user1@example.com")  # the hard bounce
    assert served.enrollment("c0001") == ("ended", "unsubscribed")  # the complaint / unsubscribe
    (handover,) = served.events("dedup = 'sendgrid:handover-delivered-0002'")
    assert (handover["contact"], handover["type"], handover["flag"]) == ("c0002", "delivered", None)
    (stranger,) = served.events("dedup = 'sendgrid:stranger-0001'")
    assert (stranger["contact"], stranger["flag"], stranger["source"]) == (None, "unknown_message", "sendgrid")

    total = served.count()
    retry = served.post("sendgrid", body, sendgrid_headers(served.keys.sendgrid, body))  # signed anew
    assert (retry.json()["recorded"], retry.json()["already_recorded"]) == (0, 12)
    assert served.count() == total

    failed = served.metric('fsl_webhook_verifications_failed_total{endpoint="sendgrid"}')
    forged = sendgrid_headers(ec.generate_private_key(ec.SECP256R1()), body)
    stale = sendgrid_headers(served.keys.sendgrid, body, now() - timedelta(hours=1))
    tampered = json.dumps(batch[:3]).encode()
    for attempt_body, attempt_headers in ((body, forged), (body, headers), (body, stale), (tampered, headers),
                                          (body, {})):
        refused = served.post("sendgrid", attempt_body, attempt_headers)
        assert refused.status_code == 401, refused.text
        assert "verification failed" in refused.json()["error"]
    assert "already used" in served.post("sendgrid", body, headers).json()["error"]  # the replay
    assert served.count() == total
    assert served.metric('fsl_webhook_verifications_failed_total{endpoint="sendgrid"}') == failed + 6
    assert served.metric('fsl_signals_recorded_total{source="sendgrid",type="delivered"}') == 3.0  # c0001, c0002, the stranger


def test_unmatched_provider_events_are_reported_by_status(served):
    body = json.dumps([dict(fixture("sendgrid_events.json")[2], timestamp=int(now().timestamp()),
                            sg_event_id="orphan-for-status", sg_message_id="orphan.filter0001",
                            **{"smtp-id": "<orphan@elsewhere.example>"})]).encode()
    assert served.post("sendgrid", body, sendgrid_headers(served.keys.sendgrid, body)).json()["unmatched"] == 1
    env = _env()
    result = cli("status", "--format", "json", cwd=served.folder, env=env)
    listed = json.loads(result.output)["unknown_event_list"]
    assert {"type": "delivered", "flag": "unknown_message", "source": "sendgrid",
            "step": "<orphan@elsewhere.example>"}.items() <= listed[0].items()
    text = cli("status", cwd=served.folder, env=env).output
    assert "delivered via sendgrid contact=None deal=None step=<orphan@elsewhere.example>: unknown_message" in text


# ---------------------------------------------------------------- Mailgun

def _mailgun(name: str, message_id: str, **data) -> dict:
    payload = fixture(name)
    event = dict(payload["event-data"], timestamp=now().timestamp(), **data)
    event["message"] = {"headers": {"message-id": message_id.strip("<>")}}
    return {"event-data": event}


def test_mailgun_events_signed_retried_forged_stale_and_replayed(served):
    ours = served.sent("c0005")["message_id"]
    delivered = _mailgun("mailgun_delivered.json", ours)
    body = mailgun_body(delivered)
    assert served.post("mailgun", body).status_code == 200
    bot = served.post("mailgun", mailgun_body(_mailgun("mailgun_opened_bot.json", ours)))
    assert bot.json()["recorded"] == 1
    rows = served.events("contact = 'c0005'")
    assert [(r["type"], r["fields"], r["source"]) for r in rows] == [
        ("delivered", {}, "mailgun"), ("opened", {"machine": True}, "mailgun")]
    assert "client-info.bot apple" in rows[1]["evidence"]

    total = served.count()
    retry = served.post("mailgun", mailgun_body(delivered))  # Mailgun signs each attempt anew
    assert (retry.status_code, retry.json()["already_recorded"]) == (200, 1)
    for refused_body in (body,  # the same signature again: a replay
                         mailgun_body(delivered, key="not-the-signing-key"),
                         mailgun_body(delivered, at=now() - timedelta(minutes=10)),
                         body.replace(b'"delivered"', b'"failed"')):
        refused = served.post("mailgun", refused_body)
        assert refused.status_code == 401, refused.text
    assert served.count() == total


def test_deferrals_past_the_limit_become_one_soft_bounce(served):
    ours = served.sent("c0006")["message_id"]
    temporary = fixture("mailgun_failed_temporary.json")["event-data"]
    for i, ago in enumerate((timedelta(minutes=100), timedelta(minutes=70), timedelta(0), timedelta(0))):
        event = dict(temporary, id=f"defer-{i}", timestamp=(now() - ago).timestamp(),
                     message={"headers": {"message-id": ours.strip("<>")}})
        assert served.post("mailgun", mailgun_body({"event-data": event})).status_code == 200
    rows = served.events("contact = 'c0006'")
    assert [r["type"] for r in rows] == ["deferred", "deferred", "deferred", "bounced", "deferred"]
    soft = rows[3]
    assert soft["fields"]["kind"] == "soft" and soft["source"] == "mailgun"
    assert any("soft_bounce_after" in e for e in soft["evidence"])
    assert not served.suppressed("user6@example.com")  # a soft bounce suppresses nothing


# ---------------------------------------------------------------- Postmark

def test_postmark_events_by_the_message_id_postmark_returned(served):
    delivery = dict(fixture("postmark_delivery.json"), MessageID=POSTMARK_ID,
                    DeliveredAt=now().isoformat().replace("+00:00", "Z"))
    body = json.dumps(delivery).encode()
    assert served.post("postmark", body, basic("fsl", PM_PASSWORD)).json()["recorded"] == 1
    assert served.post("postmark", body, basic("fsl", PM_PASSWORD)).json()["already_recorded"] == 1  # a retry
    total = served.count()
    for headers in (basic("fsl", "wrong-password"), basic("someone", PM_PASSWORD), {}):
        assert served.post("postmark", body, headers).status_code == 401
    assert served.count() == total
    complaint = dict(fixture("postmark_spamcomplaint.json"), MessageID=POSTMARK_ID,
                     BouncedAt=now().isoformat().replace("+00:00", "Z"))
    assert served.post("postmark", json.dumps(complaint).encode(), basic("fsl", PM_PASSWORD)).status_code == 200
    assert [(r["type"], r["source"]) for r in served.events("contact = 'c0003'")] == [
        ("delivered", "postmark"), ("complained", "postmark")]
    assert served.enrollment("c0003") == ("ended", "unsubscribed")  # a complaint suppresses like unsubscribed


# ---------------------------------------------------------------- SES through SNS

def test_ses_bounce_and_complaint_through_sns(served):
    stamp = now().isoformat().replace("+00:00", "Z")
    bounce = fixture("ses_bounce.json")
    bounce["mail"] = dict(bounce["mail"], messageId=SES_ID)
    bounce["mail"].pop("commonHeaders", None)
    bounce["bounce"] = dict(bounce["bounce"], timestamp=stamp, bouncedRecipients=[
        dict(bounce["bounce"]["bouncedRecipients"][0], emailAddress="user4@example.com")])
    body = sns_body(served.keys.sns, bounce, message_id="b3f1a2c4-0000-4000-8000-000000000001")
    answer = served.post("ses", body)
    assert (answer.status_code, answer.json()["recorded"]) == (200, 1), answer.text
    (row,) = served.events("contact = 'c0004'")
    assert (row["type"], row["fields"]["kind"], row["source"]) == ("bounced", "hard", "ses")
    assert served.suppressed("user4@example.com")
    assert served.post("ses", body).json()["already_recorded"] == 1  # SNS resends the same signed message

    total = served.count()
    forged = json.loads(body)
    forged["Message"] = forged["Message"].replace("Permanent", "Transient")
    assert served.post("ses", json.dumps(forged).encode()).status_code == 401
    other_topic = sns_body(served.keys.sns, bounce, message_id="b3f1a2c4-0000-4000-8000-000000000002")
    assert served.post("ses", other_topic.replace(TOPIC.encode(), TOPIC.encode()[:-1] + b"X")).status_code == 401
    assert served.count() == total

    complaint = fixture("ses_complaint.json")
    complaint["mail"] = dict(complaint["mail"], messageId=SES_ID)
    complaint["complaint"] = dict(complaint["complaint"], timestamp=stamp)
    assert served.post("ses", sns_body(served.keys.sns, complaint,
                                       message_id="c0c0c0c0-0000-4000-8000-000000000003")).status_code == 200
    assert served.enrollment("c0004") == ("ended", "unsubscribed")


def test_ses_subscription_confirmation_is_confirmed_over_tls(served):
    _Confirmations.seen.clear()
    _Connect.targets.clear()
    body = sns_body(served.keys.sns, None, message_id="d0d0d0d0-0000-4000-8000-000000000004",
                    kind="SubscriptionConfirmation")
    answer = served.post("ses", body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["subscription_confirmed"] is True
    assert _Connect.targets == [f"{SNS_HOST}:443"]
    assert _Confirmations.seen and "Action=ConfirmSubscription" in _Confirmations.seen[0]
    forged = json.loads(body)
    forged["SubscribeURL"] = forged["SubscribeURL"].replace("Token=", "Token=x")
    assert served.post("ses", json.dumps(forged).encode()).status_code == 401
    assert len(_Confirmations.seen) == 1


# ---------------------------------------------------------------- what no caller can make a 500 of

def test_bad_bodies_are_4xx_with_a_reason_and_record_nothing(served):
    total = served.count()
    key = served.keys.sendgrid

    def sendgrid(body: bytes) -> httpx.Response:
        return served.post("sendgrid", body, sendgrid_headers(key, body))

    cases = [
        (sendgrid(b"[{not json"), 400, "not JSON"),
        (sendgrid(b'{"event": "delivered"}'), 400, "not a JSON array"),
        (served.post("mailgun", b"{nope"), 400, "not JSON"),
        (served.post("ses", b"\xff\xfe"), 400, "not JSON"),
        (served.post("postmark", b"[1, 2]", basic("fsl", PM_PASSWORD)), 422, "is not an object"),
        (sendgrid(json.dumps([{"event": "delivered", "sg_event_id": "x1", "timestamp": "yesterday"}]).encode()),
         422, "not a number of seconds"),
        (sendgrid(json.dumps([{"event": 5, "sg_event_id": "x2", "timestamp": 1}]).encode()), 422, "not a string"),
        (sendgrid(b"[" + b'{"a": 1},' * 10000 + b"{}]"), 413, "larger than"),
        (served.post("sparkpost", b"[]"), 404, "unknown provider"),
        (served.post("postmark", json.dumps(dict(fixture("postmark_delivery.json"), RecordType="Teleport")).encode(),
                     basic("fsl", PM_PASSWORD)), 422, "unknown event type"),
    ]
    for answer, status, reason in cases:
        assert answer.status_code == status, answer.text
        text = json.dumps(answer.json())
        assert reason in text, text
    assert served.count() == total


# ---------------------------------------------------------------- group commit of tracking hits

def test_concurrent_clicks_share_commits_and_each_is_committed_before_its_302(served):
    import asyncio

    from fsl.signals import tokens

    urls = [f"{served.base}/c/{tokens.make(SECRET, served.sent(c)['key'], 0)}" for c in ("c0010", "c0011")] * 30
    before = len(served.events("type = 'clicked' AND contact IN ('c0010', 'c0011')"))

    answered = 0

    async def one(client: httpx.AsyncClient, url: str) -> int:
        nonlocal answered
        answer = await client.get(url)
        answered += 1
        # every click answered so far is in the store when this 302 arrives
        stored = len(served.events("type = 'clicked' AND contact IN ('c0010', 'c0011')")) - before
        assert stored >= answered
        return answer.status_code

    async def all_at_once() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(one(client, u) for u in urls))

    assert asyncio.run(all_at_once()) == [302] * len(urls)
    clicks = served.events("type = 'clicked' AND contact IN ('c0010', 'c0011')")
    assert len(clicks) - before == len(urls)
    assert {c["fields"]["link"] for c in clicks} == {"pricing"}
