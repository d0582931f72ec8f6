"""Provider webhook adapters (fsl/signals/providers, SIGNALS.md 2): each
provider's documented payloads, signed with keys generated here."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from fsl.signals.providers import ADAPTERS, BadSignature, EVENT_TYPES, mailgun, match, postmark, sendgrid, ses, sns
from fsl.signals.providers.common import ProviderEvent
from fsl.store.schema import actions

from .smtp_sink import SmtpSink
from .test_delivery_verdicts import PEOPLE, project, start, store_rows, tick
from .test_pg_support import pg_url  # noqa: F401 - the fixture

FIX = Path(__file__).parent / "fixtures" / "providers"
NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=timezone.utc)
UTC = timezone.utc


def fixture(name: str) -> dict | list:
    return json.loads((FIX / name).read_text())


def by_id(parsed) -> dict[str, ProviderEvent]:
    return {e.event_id: e for e in parsed.events}


# ---------------------------------------------------------------- SendGrid

@pytest.fixture(scope="module")
def sg_key():
    return ec.generate_private_key(ec.SECP256R1())


def sg_settings(key) -> dict:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"public_key": base64.b64encode(der).decode()}


def sg_headers(key, body: bytes, at: datetime = NOW) -> dict[str, str]:
    stamp = str(int(at.timestamp()))
    sig = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"x-twilio-email-event-webhook-signature": base64.b64encode(sig).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp}


def test_sendgrid_documented_events_map_to_fsl_events():
    parsed = sendgrid.parse((FIX / "sendgrid_events.json").read_bytes())
    assert parsed.errors == ()
    assert [name for _, name in parsed.ignored] == ["processed", "group_resubscribe"]
    got = {e.event_id: (e.type, dict(e.fields)) for e in parsed.events}
    assert got == {
        "t7LEShmowp86DTdUW8M-GQ==": ("deferred", {"reason": "400 try again later"}),
        "rWVYmVk90MjZJ9iohOBa3w==": ("delivered", {}),
        "FOTFFO0ecsBE-zxFXfs6WA==": ("opened", {"machine": False}),
        "kCAi1KttyQdEKHhdC-nuEA==": ("clicked", {"url": "http://www.sendgrid.com/"}),
        "6g4ZI7SA-xmRDv57GoPIPw==": ("bounced", {"kind": "hard", "reason": "500 unknown recipient"}),
        "hGDX4vmMFLSBHWeFa5zgUg==": ("deferred", {"reason": "550 5.7.1 blocked by policy"}),
        "zmzJhfJgAfUSOW80yEbPyw==": ("bounced", {"kind": "hard", "reason": "dropped: Bounced Address"}),
        "37nvH5QBz858KGVYCM4uOA==": ("complained", {}),
        "jWmZXTZbtHTV2-S47asrww==": ("unsubscribed", {}),
        "ahSCB7xYcXFb-hEaawsPRw==": ("unsubscribed", {}),
    }
    e = by_id(parsed)["rWVYmVk90MjZJ9iohOBa3w=="]
    assert e.provider == "sendgrid" and e.at == datetime(2017, 12, 15, 0, 59, 29, tzinfo=UTC)
    assert e.message_id == "<14c5d75ce93.dfd.64b469@ismtpd-555>" and e.recipient == "example@test.com"
    assert e.provider_message_id == "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000"
    # the X-Message-Id the SMTP relay answered with is the part before `.filter`
    assert e.handover_ids == (e.provider_message_id, "14c5d75ce93.dfd.64b469")
    assert all(e.type in EVENT_TYPES for e in parsed.events)


def test_sendgrid_machine_open_flag():
    item = dict(fixture("sendgrid_events.json")[3], sg_machine_open=True)
    (e,) = sendgrid.parse(json.dumps([item]).encode()).events
    assert e.type == "opened" and e.fields["machine"] is True and "sg_machine_open True" in e.evidence


def test_sendgrid_dropped_reasons():
    item = fixture("sendgrid_events.json")[7]
    got = {}
    for reason in ("Bounced Address", "Invalid", "Unsubscribed Address", "Spam Reporting Address",
                   "Recipient List over Package Quota"):
        (e,) = sendgrid.parse(json.dumps([dict(item, reason=reason)]).encode()).events
        got[reason] = (e.type, dict(e.fields))
    assert got == {
        "Bounced Address": ("bounced", {"kind": "hard", "reason": "dropped: Bounced Address"}),
        "Invalid": ("bounced", {"kind": "hard", "reason": "dropped: Invalid"}),
        "Unsubscribed Address": ("unsubscribed", {}), "Spam Reporting Address": ("complained", {}),
        "Recipient List over Package Quota": ("deferred", {"reason": "dropped: Recipient List over Package Quota"})}


def test_sendgrid_signature_correct_wrong_tampered_stale(sg_key):
    body = (FIX / "sendgrid_events.json").read_bytes()
    settings = sg_settings(sg_key)
    sendgrid.verify(sg_headers(sg_key, body), body, settings, NOW)
    sendgrid.verify(sg_headers(sg_key, body, NOW - timedelta(seconds=299)), body, settings, NOW)
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(BadSignature, match="does not match"):
        sendgrid.verify(sg_headers(other, body), body, settings, NOW)
    with pytest.raises(BadSignature, match="does not match"):
        sendgrid.verify(sg_headers(sg_key, body), body.replace(b"bounce", b"bounds"), settings, NOW)
    headers = sg_headers(sg_key, body)  # the timestamp is signed: changing it breaks the signature
    headers["X-Twilio-Email-Event-Webhook-Timestamp"] = str(int(NOW.timestamp()) + 1)
    with pytest.raises(BadSignature, match="does not match"):
        sendgrid.verify(headers, body, settings, NOW)
    with pytest.raises(BadSignature, match="stale"):  # a captured request replayed later
        sendgrid.verify(sg_headers(sg_key, body, NOW - timedelta(minutes=6)), body, settings, NOW)
    with pytest.raises(BadSignature, match="missing"):
        sendgrid.verify({}, body, settings, NOW)
    with pytest.raises(BadSignature, match="signature does not match"):
        sendgrid.verify(dict(headers, **{"X-Twilio-Email-Event-Webhook-Signature": "%%%"}), body, settings, NOW)
    with pytest.raises(BadSignature, match="not configured"):
        sendgrid.verify(sg_headers(sg_key, body), body, {}, NOW)


def test_sendgrid_accepts_a_pem_public_key(sg_key):
    body = b"[]"
    pem = sg_key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    sendgrid.verify(sg_headers(sg_key, body), body, {"public_key": pem}, NOW)
    with pytest.raises(BadSignature, match="not a public key"):
        sendgrid.verify(sg_headers(sg_key, body), body, {"public_key": "bm90IGEga2V5"}, NOW)


def test_sendgrid_bad_items_are_reported_and_the_good_ones_kept():
    good = fixture("sendgrid_events.json")[2]
    items = [good, "nope", {"event": "delivered"}, dict(good, sg_event_id="x2", timestamp="soon"),
             dict(good, sg_event_id="x3", event="click"), dict(good, sg_event_id="x4", timestamp=True)]
    parsed = sendgrid.parse(json.dumps(items).encode())
    assert [e.event_id for e in parsed.events] == [good["sg_event_id"]]
    assert [(err.index, err.reason) for err in parsed.errors] == [
        (1, "the event is not an object"), (2, "`sg_event_id` is missing or not a string"),
        (3, "`timestamp` is not a number of seconds"), (4, "`url` is missing or not a string"),
        (5, "`timestamp` is not a number of seconds")]
    assert sendgrid.parse(b"{not json").errors[0].index is None
    assert sendgrid.parse(b'{"event": "delivered"}').errors[0].reason == "the body is not a JSON array of events"
    assert sendgrid.parse(b"\xff\xfe").events == ()


def test_the_same_event_twice_has_the_same_dedup_key(sg_key):
    body = (FIX / "sendgrid_events.json").read_bytes()
    first, again = sendgrid.parse(body), sendgrid.parse(body)
    assert [e.event_id for e in first.events] == [e.event_id for e in again.events]
    assert len({e.event_id for e in first.events}) == len(first.events)


# ---------------------------------------------------------------- Mailgun

MG_KEY = "key-generated-for-tests-0123456789abcdef"


def mg_sign(payload: dict, at: datetime = NOW, key: str = MG_KEY, token: str = "t" * 50) -> bytes:
    stamp = str(int(at.timestamp()))
    sig = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(dict(payload, signature={"timestamp": stamp, "token": token, "signature": sig})).encode()


def test_mailgun_documented_events_map_to_fsl_events():
    delivered = mailgun.parse((FIX / "mailgun_delivered.json").read_bytes())
    (e,) = delivered.events
    assert (e.type, e.event_id, e.at) == ("delivered", "CPgfbmQMTCKtHW6uIWtuVe:1521472262",
                                          datetime(2018, 3, 19, 15, 11, 2, tzinfo=UTC))
    assert e.message_id == "<20130503182626.18666.16540@sandbox.mailgun.org>"
    assert e.provider_message_id == "20130503182626.18666.16540@sandbox.mailgun.org"
    assert e.recipient == "alice@example.com"
    (hard,) = mailgun.parse((FIX / "mailgun_failed_permanent.json").read_bytes()).events
    assert (hard.type, dict(hard.fields)) == (
        "bounced", {"kind": "hard", "reason": "Not delivering to previously bounced address"})
    (soft,) = mailgun.parse((FIX / "mailgun_failed_temporary.json").read_bytes()).events
    assert (soft.type, dict(soft.fields)) == (
        "deferred", {"reason": "452 4.2.2 The email account that you tried to reach is over quota"})
    (bot,) = mailgun.parse((FIX / "mailgun_opened_bot.json").read_bytes()).events
    assert (bot.type, bot.fields["machine"]) == ("opened", True) and "client-info.bot apple" in bot.evidence
    human = fixture("mailgun_opened_bot.json")
    human["event-data"]["client-info"]["bot"] = ""
    (e,) = mailgun.parse(json.dumps(human).encode()).events
    assert e.fields["machine"] is False


def test_mailgun_other_events():
    base = fixture("mailgun_delivered.json")
    for name, typ in (("clicked", "clicked"), ("unsubscribed", "unsubscribed"), ("complained", "complained")):
        payload = json.loads(json.dumps(base))
        payload["event-data"].update(event=name, url="https://acme.example/x")
        (e,) = mailgun.parse(json.dumps(payload).encode()).events
        assert e.type == typ
    base["event-data"]["event"] = "accepted"
    assert mailgun.parse(json.dumps(base).encode()).ignored == ((0, "accepted"),)


def test_mailgun_signature_correct_wrong_tampered_stale():
    payload = fixture("mailgun_delivered.json")
    settings = {"signing_key": MG_KEY}
    mailgun.verify({}, mg_sign(payload), settings, NOW)
    with pytest.raises(BadSignature, match="does not match"):
        mailgun.verify({}, mg_sign(payload, key="another-key"), settings, NOW)
    with pytest.raises(BadSignature, match="does not match"):  # the documented (foreign) signature
        mailgun.verify({}, (FIX / "mailgun_delivered.json").read_bytes(), settings, NOW)
    body = json.loads(mg_sign(payload))
    body["signature"]["token"] = "u" * 50
    with pytest.raises(BadSignature, match="does not match"):
        mailgun.verify({}, json.dumps(body).encode(), settings, NOW)
    with pytest.raises(BadSignature, match="stale"):
        mailgun.verify({}, mg_sign(payload, NOW - timedelta(minutes=10)), settings, NOW)
    with pytest.raises(BadSignature, match="stale"):
        mailgun.verify({}, mg_sign(payload, NOW + timedelta(minutes=10)), settings, NOW)
    with pytest.raises(BadSignature, match="no signature"):
        mailgun.verify({}, b"not json", settings, NOW)
    with pytest.raises(BadSignature, match="no signature"):
        mailgun.verify({}, json.dumps(payload["event-data"]).encode(), settings, NOW)
    with pytest.raises(BadSignature, match="not configured"):
        mailgun.verify({}, mg_sign(payload), {}, NOW)


def test_mailgun_subaccount_parent_signature():
    """Events of a subaccount's domain also carry `parent-signature`, made with the primary account's key."""
    payload = fixture("mailgun_delivered.json")
    body = json.loads(mg_sign(payload, key="subaccount-key"))
    stamp, token = body["signature"]["timestamp"], body["signature"]["token"]
    body["signature"]["parent-signature"] = hmac.new(MG_KEY.encode(), (stamp + token).encode(),
                                                     hashlib.sha256).hexdigest()
    mailgun.verify({}, json.dumps(body).encode(), {"signing_key": MG_KEY}, NOW)
    body["signature"]["parent-signature"] = "0" * 64
    with pytest.raises(BadSignature, match="does not match"):
        mailgun.verify({}, json.dumps(body).encode(), {"signing_key": MG_KEY}, NOW)


def test_mailgun_bad_payloads_are_reported():
    assert mailgun.parse(b"[1, 2").errors[0].index is None
    assert mailgun.parse(b"[]").errors[0].reason == "the body is not an object"
    assert mailgun.parse(b'{"event-data": 3}').errors[0].reason == "`event-data` is not an object"
    payload = fixture("mailgun_failed_temporary.json")
    del payload["event-data"]["severity"]
    (err,) = mailgun.parse(json.dumps(payload).encode()).errors
    assert "severity" in err.reason


# ---------------------------------------------------------------- Postmark

PM = {"username": "fsl", "password": "pw-generated-for-tests"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("name, typ, fields, event_id", [
    ("postmark_bounce.json", "bounced", {"kind": "hard", "reason": "The server was unable to deliver your message "
                                         "(ex: unknown user, mailbox not found)."}, "Bounce:4323372036854775807"),
    ("postmark_softbounce.json", "deferred", {"reason": "SoftBounce: Unable to temporarily deliver this email."},
     "Bounce:4323372036854775808"),
    ("postmark_delivery.json", "delivered", {}, None),
    ("postmark_open.json", "opened", {}, None),
    ("postmark_click.json", "clicked", {"url": "https://example.com"}, None),
    ("postmark_spamcomplaint.json", "complained", {}, "SpamComplaint:42"),
    ("postmark_subscriptionchange.json", "unsubscribed", {}, None),
])
def test_postmark_documented_events_map_to_fsl_events(name, typ, fields, event_id):
    body = (FIX / name).read_bytes()
    parsed = postmark.parse(body)
    (e,) = parsed.events
    assert (e.type, dict(e.fields)) == (typ, fields)
    assert e.message_id is None and e.handover_ids == (e.provider_message_id,)
    assert e.event_id == (event_id or e.event_id) and e.event_id.startswith(("Bounce:", "SpamComplaint:", "postmark:"))
    assert postmark.parse(body).events[0].event_id == e.event_id  # a retry dedups
    assert e.at.microsecond == 0 and e.at.tzinfo is not None


def test_postmark_bounce_types():
    base = fixture("postmark_softbounce.json")
    for kind, inactive, typ in (("HardBounce", False, "bounced"), ("BadEmailAddress", False, "bounced"),
                                ("Transient", False, "deferred"), ("DnsError", False, "deferred"),
                                ("Blocked", True, "bounced"), ("SpamNotification", False, "complained"),
                                ("Unsubscribe", False, "unsubscribed")):
        (e,) = postmark.parse(json.dumps(dict(base, Type=kind, Inactive=inactive)).encode()).events
        assert e.type == typ, kind
    assert postmark.parse(json.dumps(dict(base, Type="AutoResponder")).encode()).ignored == ((0, "Bounce AutoResponder"),)
    reactivated = dict(fixture("postmark_subscriptionchange.json"), SuppressSending=False)
    assert postmark.parse(json.dumps(reactivated).encode()).events == ()


def test_postmark_credentials():
    body = (FIX / "postmark_delivery.json").read_bytes()
    postmark.verify(basic("fsl", PM["password"]), body, PM, NOW)
    for headers in (basic("fsl", "wrong"), basic("other", PM["password"]), {}, {"Authorization": "Bearer x"},
                    {"Authorization": "Basic %%%"}, {"Authorization": "Basic " + base64.b64encode(b"fsl").decode()}):
        with pytest.raises(BadSignature):
            postmark.verify(headers, body, PM, NOW)
    with pytest.raises(BadSignature, match="not configured"):
        postmark.verify(basic("fsl", ""), body, {"username": "fsl", "password": ""}, NOW)


def test_postmark_bad_payloads_are_reported():
    assert postmark.parse(b"").errors[0].index is None
    (err,) = postmark.parse(json.dumps(dict(fixture("postmark_delivery.json"), DeliveredAt="yesterday")).encode()).errors
    assert err.reason == "`DeliveredAt` is not an ISO 8601 date-time"
    (err,) = postmark.parse(json.dumps(dict(fixture("postmark_open.json"), MessageID=7)).encode()).errors
    assert err.reason == "`MessageID` is missing or not a string"


# ---------------------------------------------------------------- SES through SNS

CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"
TOPIC = "arn:aws:sns:us-east-1:123456789012:fsl-events"


@pytest.fixture(scope="module")
def sns_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - timedelta(days=30)).not_valid_after(NOW + timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM)


class Fetcher:
    def __init__(self, pem: bytes) -> None:
        self.pem, self.urls = pem, []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.pem


def sns_envelope(key, record: dict | str, *, version: str = "2", kind: str = "Notification",
                 subject: str | None = None, message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324") -> dict:
    env = {"Type": kind, "MessageId": message_id, "TopicArn": TOPIC,
           "Message": record if isinstance(record, str) else json.dumps(record),
           "Timestamp": "2026-03-02T11:59:58.123Z", "SignatureVersion": version, "SigningCertURL": CERT_URL}
    if subject is not None:
        env["Subject"] = subject
    if kind != "Notification":
        env.update(Token="2336412f37fb687f", SubscribeURL="https://sns.us-east-1.amazonaws.com/?Action="
                   "ConfirmSubscription&TopicArn=" + TOPIC + "&Token=2336412f37fb687f")
    digest = hashes.SHA256() if version == "2" else hashes.SHA1()
    env["Signature"] = base64.b64encode(key.sign(sns.string_to_sign(env), padding.PKCS1v15(), digest)).decode()
    return env


def test_sns_signature_versions_1_and_2_pass_and_the_certificate_is_fetched_once(sns_key):
    key, pem = sns_key
    fetch = Fetcher(pem)
    certs = sns.CertificateCache(fetch)
    for version, subject in (("1", None), ("2", None), ("2", "Amazon SES Email Event Notification")):
        body = json.dumps(sns_envelope(key, fixture("ses_delivery.json"), version=version, subject=subject)).encode()
        ses.verify({}, body, {"topic_arn": TOPIC}, NOW, certificates=certs)
    assert fetch.urls == [CERT_URL]


def test_sns_wrong_signature_tampered_message_and_wrong_topic(sns_key):
    key, pem = sns_key
    certs = sns.CertificateCache(Fetcher(pem))
    settings = {"topic_arn": TOPIC}
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(BadSignature, match="does not match"):
        ses.verify({}, json.dumps(sns_envelope(other, fixture("ses_bounce.json"))).encode(), settings, NOW,
                   certificates=certs)
    env = sns_envelope(key, fixture("ses_bounce.json"))
    env["Message"] = env["Message"].replace("Permanent", "Transient")
    with pytest.raises(BadSignature, match="does not match"):
        ses.verify({}, json.dumps(env).encode(), settings, NOW, certificates=certs)
    env = sns_envelope(key, fixture("ses_bounce.json"), version="1")
    env["SignatureVersion"] = "2"  # a SHA1 signature is not a SHA256 one
    with pytest.raises(BadSignature, match="does not match"):
        ses.verify({}, json.dumps(env).encode(), settings, NOW, certificates=certs)
    with pytest.raises(BadSignature, match="configured topic"):
        ses.verify({}, json.dumps(sns_envelope(key, "{}")).encode(), {"topic_arn": TOPIC + "-other"}, NOW,
                   certificates=certs)
    with pytest.raises(BadSignature, match="SignatureVersion"):
        ses.verify({}, json.dumps(dict(sns_envelope(key, "{}"), SignatureVersion="3")).encode(), settings, NOW,
                   certificates=certs)
    with pytest.raises(BadSignature, match="not valid now"):
        ses.verify({}, json.dumps(sns_envelope(key, "{}")).encode(), settings, NOW + timedelta(days=60),
                   certificates=certs)
    with pytest.raises(BadSignature, match="not an SNS message"):
        ses.verify({}, b"<xml/>", settings, NOW, certificates=certs)


@pytest.mark.parametrize("url", [
    "http://sns.us-east-1.amazonaws.com/cert.pem",
    "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
    "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
    "https://sns.us-east-1.amazonaws.com@evil.example/cert.pem",
    "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
    "https://sns.us-east-1.amazonaws.com/cert.txt",
    "https://s3.amazonaws.com/cert.pem",
    "https://sns.amazonaws.com/cert.pem",
    "https://sns.us-east-1.amazonaws.com/cert.pem?x=1",
    None,
])
def test_a_certificate_is_never_fetched_from_elsewhere(sns_key, url):
    key, pem = sns_key
    fetch = Fetcher(pem)
    env = dict(sns_envelope(key, fixture("ses_delivery.json")), SigningCertURL=url)
    with pytest.raises(BadSignature, match="not an Amazon SNS certificate URL"):
        ses.verify({}, json.dumps(env).encode(), {"topic_arn": TOPIC}, NOW, certificates=sns.CertificateCache(fetch))
    assert fetch.urls == []


def test_sns_certificate_urls_of_every_region_are_allowed():
    for region in ("us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1"):
        assert sns.certificate_url_allowed(f"https://sns.{region}.amazonaws.com/SimpleNotificationService-abc.pem")


def test_an_unreachable_certificate_refuses_the_request(sns_key):
    key, _ = sns_key

    def broken(url: str) -> bytes:
        raise OSError("network down")

    with pytest.raises(BadSignature, match="could not be obtained"):
        ses.verify({}, json.dumps(sns_envelope(key, "{}")).encode(), {"topic_arn": TOPIC}, NOW,
                   certificates=sns.CertificateCache(broken))


def test_ses_documented_notifications_map_to_fsl_events(sns_key):
    key, _ = sns_key
    (e,) = ses.parse(json.dumps(sns_envelope(key, fixture("ses_bounce.json"))).encode()).events
    assert (e.type, e.fields["kind"], e.recipient) == ("bounced", "hard", "jane@example.com")
    assert e.fields["reason"] == "Permanent/General: smtp; 550 5.1.1 <jane@example.com>... User"
    assert e.provider_message_id == "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"
    assert e.message_id == "<custom-message-ID>" and e.at == datetime(2016, 1, 27, 14, 59, 38, tzinfo=UTC)
    assert e.event_id == "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    transient = fixture("ses_bounce.json")
    transient["bounce"].update(bounceType="Transient", bounceSubType="MailboxFull")
    (e,) = ses.parse(json.dumps(sns_envelope(key, transient)).encode()).events
    assert e.type == "deferred" and "kind" not in e.fields and e.fields["reason"].startswith("Transient/MailboxFull")
    (e,) = ses.parse(json.dumps(sns_envelope(key, fixture("ses_complaint.json"))).encode()).events
    assert (e.type, e.recipient) == ("complained", "richard@example.com")
    (e,) = ses.parse(json.dumps(sns_envelope(key, fixture("ses_delivery.json"))).encode()).events
    assert (e.type, e.recipient) == ("delivered", "jane@example.com")
    (e,) = ses.parse(json.dumps(sns_envelope(key, fixture("ses_open_event.json"))).encode()).events
    assert (e.type, e.at) == ("opened", datetime(2017, 8, 9, 22, 0, 19, tzinfo=UTC))
    (e,) = ses.parse(json.dumps(sns_envelope(key, fixture("ses_click_event.json"))).encode()).events
    assert e.type == "clicked" and e.fields["url"].startswith("http://docs.aws.amazon.com/ses/")


def test_ses_one_event_per_recipient_with_distinct_ids(sns_key):
    key, _ = sns_key
    record = fixture("ses_bounce.json")
    record["bounce"]["bouncedRecipients"].append({"emailAddress": "mary@example.com"})
    events = ses.parse(json.dumps(sns_envelope(key, record)).encode()).events
    assert [e.recipient for e in events] == ["jane@example.com", "mary@example.com"]
    assert len({e.event_id for e in events}) == 2


def test_sns_subscription_confirmation_gives_the_url_to_confirm(sns_key):
    key, pem = sns_key
    env = sns_envelope(key, "You have chosen to subscribe", kind="SubscriptionConfirmation")
    body = json.dumps(env).encode()
    ses.verify({}, body, {"topic_arn": TOPIC}, NOW, certificates=sns.CertificateCache(Fetcher(pem)))
    parsed = ses.parse(body)
    assert parsed.events == () and parsed.confirm_url == env["SubscribeURL"]
    documented = ses.parse((FIX / "sns_subscription_confirmation.json").read_bytes())
    assert documented.confirm_url.startswith("https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription")
    evil = dict(env, SubscribeURL="https://evil.example/?Action=ConfirmSubscription")
    assert ses.parse(json.dumps(evil).encode()).confirm_url is None


def test_ses_bad_payloads_are_reported(sns_key):
    key, _ = sns_key
    assert ses.parse(b"nope").errors[0].index is None
    assert ses.parse(json.dumps(sns_envelope(key, "not json")).encode()).errors[0].reason.startswith("`Message` is not")
    record = fixture("ses_bounce.json")
    record["bounce"]["bounceType"] = "Sometimes"
    assert "bounceType" in ses.parse(json.dumps(sns_envelope(key, record)).encode()).errors[0].reason
    del record["mail"]
    record["bounce"]["bounceType"] = "Permanent"
    assert ses.parse(json.dumps(sns_envelope(key, record)).encode()).errors[0].reason == "`mail` is not an object"
    assert ses.parse(json.dumps(sns_envelope(key, {"eventType": "Send"})).encode()).ignored == ((0, "Send"),)


def test_every_adapter_is_registered():
    assert set(ADAPTERS) == {"sendgrid", "mailgun", "postmark", "ses"}
    for adapter in ADAPTERS.values():
        assert callable(adapter.verify) and callable(adapter.parse)


# ---------------------------------------------------------------- matching to the outbox

@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    from fsl.store import open_store

    url = f"sqlite:///{tmp_path}/fsl.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    db = open_store(url)
    rows = [  # key, message_id, provider_id (the server's final reply to DATA)
        ("1:opener:0:0", "<0a1b2c3d4e5f60718293a4b5c6d7e8f9.fsl@acme.example>", "250 Ok: queued as 4BXYZ7Qd2kz1"),
        ("2:opener:0:0", "<1a1b2c3d4e5f60718293a4b5c6d7e8f9.fsl@acme.example>",
         "250 Ok 00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"),
        ("3:opener:0:0", "<2a1b2c3d4e5f60718293a4b5c6d7e8f9.fsl@acme.example>",
         "250 2.0.0 Ok: queued as 883953f4-6105-42a2-a16a-77a8eac79483"),
        ("4:opener:0:0", "<3a1b2c3d4e5f60718293a4b5c6d7e8f9.fsl@acme.example>", "250 Ok: queued as 14c5d75ce93.dfd.64b469"),
        ("5:opener:0:0", None, "250 Ok: queued as X4BXYZ7Qd2kz12"),
    ]
    with db.write() as conn:
        for i, (key, mid, reply) in enumerate(rows):
            conn.execute(sa.insert(actions).values(
                key=key, enrollment=i + 1, contact="c1", playbook="hello", step="opener", kind="send", at=int(NOW.timestamp()),
                line=0, payload="{}", status="delivered", attempts=1, message_id=mid, provider_id=reply))
    yield db
    db.dispose()


def event(message_id=None, handover=()) -> ProviderEvent:
    return ProviderEvent("test", "e1", "delivered", NOW, message_id, None, None, {}, tuple(handover))


def test_match_by_our_message_id_with_or_without_brackets(store):
    with store.read() as conn:
        assert match(conn, event("<1a1b2c3d4e5f60718293a4b5c6d7e8f9.fsl@acme.example>")) == "2:opener:0:0"
        (mg,) = mailgun.parse(json.dumps({"event-data": dict(
            fixture("mailgun_delivered.json")["event-data"],
            message={"headers": {"message-id": "2a1b2c3d4e5f60718293a4b5c6d7e8f9.fsl@acme.example"}})}).encode()).events
        assert match(conn, mg) == "3:opener:0:0"
        assert match(conn, event("<unknown@acme.example>")) is None


def test_match_by_the_provider_id_inside_the_handover_reply(store, sns_key):
    with store.read() as conn:
        assert match(conn, event(handover=["4BXYZ7Qd2kz1"])) == "1:opener:0:0"  # not X4BXYZ7Qd2kz12
        assert match(conn, event(handover=["4BXYZ7Qd2kz"])) is None  # a part of an id is no id
        (sg,) = sendgrid.parse(json.dumps([fixture("sendgrid_events.json")[2]]).encode()).events
        assert match(conn, sg) == "4:opener:0:0"  # `smtp-id` is SendGrid's there; the X-Message-Id matches
        (pm,) = postmark.parse((FIX / "postmark_bounce.json").read_bytes()).events
        assert match(conn, pm) == "3:opener:0:0"
        (se,) = ses.parse(json.dumps(sns_envelope(sns_key[0], fixture("ses_bounce.json"))).encode()).events
        assert match(conn, se) == "2:opener:0:0"  # `custom-message-ID` is not ours; SES's id is in the reply
        assert match(conn, event(handover=["Ok"])) is None  # too short to mean anything
        assert match(conn, event(handover=["50%_x"])) is None  # LIKE wildcards are literal


def test_reports_of_bad_items_are_bounded():
    parsed = sendgrid.parse(json.dumps([{"event": "x" * 5000, "sg_event_id": "a"}]).encode())
    assert len(parsed.ignored[0][1]) == 200


def test_events_match_messages_the_runtime_really_sent(tmp_path):
    """Through the real hand-over: an SMTP server on loopback answers DATA; the
    reply kept with the message and the Message-ID the runtime set are what a
    provider's event is matched by."""
    from fsl.runtime.runtime import Runtime

    with SmtpSink() as sink:
        project(tmp_path, sink.port)
        sink.answer(PEOPLE["c5"], "data", "250 Ok: queued as 4BXYZ7Qd2kz1")  # SendGrid's relay names its X-Message-Id
        start(tmp_path)
        tick(tmp_path, 0)
    sent = {r["contact"]: r for r in store_rows(tmp_path, "actions") if r["kind"] == "send"}
    assert sent["c5"]["provider_id"] == "250 Ok: queued as 4BXYZ7Qd2kz1"
    received = sink.messages[0]
    contact = next(c for c, addr in PEOPLE.items() if addr == received.rcpt_tos[0])
    sg_item = dict(fixture("sendgrid_events.json")[2], sg_message_id="4BXYZ7Qd2kz1.filterdrecv-5645d9c87f-bz2tq-1-5F3A",
                   **{"smtp-id": "<unrelated@sendgrid.example>"})
    (by_reply,) = sendgrid.parse(json.dumps([sg_item]).encode()).events
    mg = fixture("mailgun_delivered.json")
    mg["event-data"]["message"]["headers"]["message-id"] = received.message["Message-ID"].strip("<>")
    (by_message_id,) = mailgun.parse(json.dumps(mg).encode()).events
    rt = Runtime.open(tmp_path / "fsl.yaml")
    try:
        with rt.db.read() as conn:
            assert match(conn, by_reply) == sent["c5"]["key"]
            assert match(conn, by_message_id) == sent[contact]["key"]
    finally:
        rt.close()


def test_a_retried_webhook_repeats_every_dedup_key_and_distinct_events_differ(sns_key):
    """Same body twice (a provider's retry) → the same event ids; a different event → a different id."""
    key, _ = sns_key
    bodies = {
        "sendgrid": [(FIX / "sendgrid_events.json").read_bytes()],
        "mailgun": [(FIX / f"mailgun_{n}.json").read_bytes() for n in ("delivered", "failed_permanent",
                                                                       "failed_temporary", "opened_bot")],
        "postmark": [(FIX / f"postmark_{n}.json").read_bytes() for n in ("bounce", "softbounce", "delivery", "open",
                                                                        "click", "spamcomplaint")],
        "ses": [json.dumps(sns_envelope(key, fixture(f"ses_{n}.json"), message_id=f"m-{n}")).encode()
                for n in ("bounce", "complaint", "delivery", "open_event", "click_event")],
    }
    for provider, group in bodies.items():
        ids = [e.event_id for body in group for e in ADAPTERS[provider].parse(body).events]
        again = [e.event_id for body in group for e in ADAPTERS[provider].parse(body).events]
        assert ids == again and len(set(ids)) == len(ids), provider
