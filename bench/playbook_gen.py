"""Generate realistic playbooks (about 80 lines, every construct) as FSL and as YAML.

Both renderings carry the same content, so `bench/check_speed.py` can compare
`fsl check` with ruamel.yaml reading the same information.
"""
from __future__ import annotations

import random

EVENTS = ["meeting_ended", "inquiry_received", "purchased", "login"]
TEMPLATES = ["recap", "proposal_checkin", "short_angle", "roi_data", "close_the_loop", "industry_insight"]


def model(i: int, rng: random.Random) -> dict:
    """One playbook as plain data."""
    steps = []
    for k in range(5):
        steps.append({
            "name": f"s{k}",
            "after": f"{rng.randint(1, 5)} days" if k else None,
            "every": "3 days" if k == 4 else None,
            "max": 3 if k == 4 else None,
            "actions": [
                {"send": {"channel": "email", "template": rng.choice(TEMPLATES), "with": {"tone": '"warm"'}}},
                {"if": {"cond": f"opened(s{max(k - 1, 0)}) and not replied()",
                        "then": [{"task": {"kind": "call", "text": "Call {{ contact.first_name }}", "due": "1 day"}}],
                        "elif": [{"cond": "count(login, 30 days) >= 3",
                                  "then": [{"set": {"path": "vars.angle", "value": '"usage"'}}]}],
                        "else": [{"wait": "2 hours"}]}},
                {"match": {"subject": "contact.tier",
                           "cases": [{"values": ['"A"'], "then": [{"notify": {"to": "contact.owner", "text": "Tier A"}}]},
                                     {"values": ['"B"', '"C"'], "then": [{"offer": {"percent": "10%", "expires": "7 days"}}]}]}},
            ],
        })
    return {
        "name": f"playbook_{i}",
        "description": f"Generated playbook number {i}",
        "owner": "bench",
        "priority": rng.randint(0, 100),
        "enroll_on": {"event": rng.choice(EVENTS), "where": 'deal.stage in ["demo", "proposal"]'},
        "reenroll": "60 days",
        "timezone": {"expr": "contact.timezone", "default": "America/New_York"},
        "window": "mon-fri 09:00-17:00",
        "holidays": "US",
        "offer_max": "25%",
        "caps": ["1 per 1 day", "email 6 total"],
        "stops": ["unsubscribed", "bounced", 'replied where event.kind == "human"'],
        "pause": 'replied where event.kind == "out_of_office" until event.return_date default 7 days',
        "let": {"segment": '"high" if contact.ltv >= 5000 else "low"'},
        "steps": steps,
    }


def _actions_fsl(actions: list, indent: str) -> list[str]:
    out = []
    for a in actions:
        (kind, v), = a.items()
        if kind == "send":
            out.append(f'{indent}send {v["channel"]} "{v["template"]}" with tone = {v["with"]["tone"]}')
        elif kind == "task":
            out.append(f'{indent}task {v["kind"]} "{v["text"]}" due {v["due"]}')
        elif kind == "set":
            out.append(f'{indent}set {v["path"]} = {v["value"]}')
        elif kind == "wait":
            out.append(f"{indent}wait {v}")
        elif kind == "notify":
            out.append(f'{indent}notify {v["to"]} "{v["text"]}"')
        elif kind == "offer":
            out.append(f'{indent}offer discount {v["percent"]} expires {v["expires"]}')
        elif kind == "if":
            out.append(f"{indent}if {v['cond']}:")
            out += _actions_fsl(v["then"], indent + "    ")
            for e in v["elif"]:
                out.append(f"{indent}elif {e['cond']}:")
                out += _actions_fsl(e["then"], indent + "    ")
            out.append(f"{indent}else:")
            out += _actions_fsl(v["else"], indent + "    ")
        elif kind == "match":
            out.append(f"{indent}match {v['subject']}:")
            for c in v["cases"]:
                out.append(f"{indent}    case {', '.join(c['values'])}:")
                out += _actions_fsl(c["then"], indent + "        ")
    return out


def to_fsl(m: dict) -> str:
    lines = [f"# {m['description']}", f"playbook {m['name']}:",
             f'    description "{m["description"]}"', f'    owner "{m["owner"]}"', f"    priority {m['priority']}", "",
             f"    enroll on {m['enroll_on']['event']} where {m['enroll_on']['where']}",
             f"    reenroll after {m['reenroll']}",
             f'    timezone {m["timezone"]["expr"]} default "{m["timezone"]["default"]}"',
             f"    window {m['window']}", f'    skip holidays "{m["holidays"]}"', f"    offer max {m['offer_max']}", ""]
    lines += [f"    cap {c}" for c in m["caps"]]
    lines += [f"    stop on {s}" for s in m["stops"]]
    lines.append(f"    pause on {m['pause']}")
    lines += [f"    let {k} = {v}" for k, v in m["let"].items()]
    for s in m["steps"]:
        timing = (f" after {s['after']}" if s["after"] else "") + (f" every {s['every']} max {s['max']}" if s["every"] else "")
        lines += ["", f"    step {s['name']}{timing}:"]
        lines += _actions_fsl(s["actions"], "        ")
    return "\n".join(lines) + "\n"


def to_yaml(m: dict) -> str:
    from io import StringIO

    from ruamel.yaml import YAML

    y = YAML()
    y.default_flow_style = False
    buf = StringIO()
    y.dump(m, buf)
    return buf.getvalue()
