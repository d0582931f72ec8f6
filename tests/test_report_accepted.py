"""`fsl report` tells "accepted by the mail server" (SMTP 250) from
"delivered" (confirmed by the provider's `delivered` event): before, only
the latter was counted, so a project without delivery webhooks read 0%."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from fsl.engine.model import Event

from .test_ops_support import T0, SmtpServer, at, cli, make_project, populate, runtime


def test_accepted_and_delivered_are_two_columns(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        smtp.sink.answers["user3@example.com"] = [550]  # refused: neither accepted nor delivered
        config = make_project(tmp_path, port=smtp.port, attempts=1)
        populate(config, 3)
        cli("tick", "--now", at(), cwd=tmp_path)
    rt = runtime(config)
    rt.record_events([Event(T0 + timedelta(minutes=5), "delivered", "c0001", None, "hello")])
    rt.close()
    cli("tick", "--now", at(minutes=10), "--no-deliver", cwd=tmp_path)
    res = cli("report", "--format", "json", cwd=tmp_path)
    assert res.exit_code == 0, res.output
    book = json.loads(res.stdout)["playbooks"][0]
    assert book["messaged"] == 3
    assert (book["engagement"]["accepted"], book["engagement"]["delivered"]) == (2, 1)
    hello = next(s for s in book["steps"] if s["name"] == "hello")
    assert (hello["engagement"]["accepted"], hello["engagement"]["delivered"]) == (2, 1)
    text = cli("report", cwd=tmp_path, env={"COLUMNS": "200"}).stdout
    assert "accepted" in text and "SMTP 250" in text and "2 67%" in text and "1 33%" in text


def test_a_simulation_has_no_mail_server_so_accepted_is_unknown() -> None:
    scenario = Path(__file__).parent / "fixtures" / "report" / "scenario.yaml"
    res = cli("report", "--scenario", str(scenario), "--format", "json")
    assert json.loads(res.stdout)["playbooks"][0]["engagement"]["accepted"] is None
