"""Human or machine: the verdict on one tracking hit, with its evidence (SIGNALS.md 1).

    verdict = classify(hit, Message(handed_at_ms, n_links), earlier_hits, rules)

Pure: the caller (fsl.signals.hits) reads the message and its earlier hits
from the store and writes the verdict into the event (`machine` field,
`Event.evidence`).  The rules, in the order their evidence is listed (the
public descriptions behind them: docs/reference/machines.md):

1. the hidden trap link was fetched (no person can see it);
2. the hit falls within `trap_window` after a trap hit on the same message;
3. a burst: all or most (`burst_share`) of the message's links fetched within
   `burst_window`, as gateways do at delivery;
4. it came within `after_delivery` of the hand-over (wall clock);
5. a HEAD request, or no User-Agent at all (browsers send one);
6. the User-Agent or the network is on the lists of known scanners and
   privacy proxies (fsl/signals/data/machines.yaml, or the file named by
   `server.machine.lists`); a proxy that fetches for a person (Gmail's
   image proxy) is said, and is no machine evidence;
7. the provider's own flag (Mailgun's `client-info.bot`, SendGrid's
   `sg_machine_open`), for events that come from a provider's webhook.

Any one of them makes the hit a machine's.  A click after a machine open
is judged on its own evidence (opens are not looked at for a click).  A
trap hit and a burst also condemn the message's hits just before them
(`Verdict.reaches_back_s`): the scanner that revealed itself made those too.
"""
from __future__ import annotations

import functools
import ipaddress
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, field_validator

Kind = Literal["click", "open", "trap"]


@dataclass(frozen=True)
class Hit:
    kind: Kind
    link: int | None
    at_ms: int  # wall clock
    ip: str | None = None
    user_agent: str | None = None
    method: str = "GET"


@dataclass(frozen=True)
class Message:
    handed_at_ms: int | None  # None: not a message this runtime rewrote (no timing evidence)
    links: int  # real links (the trap not counted)


@dataclass(frozen=True)
class Verdict:
    machine: bool
    evidence: tuple[str, ...]
    # how far back this hit's evidence also condemns the message's earlier hits (a trap hit,
    # a burst), in seconds; 0: it says nothing about them
    reaches_back_s: float = 0.0


# ---------------------------------------------------------------- the lists

class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    kind: Literal["scanner", "privacy_proxy", "person_proxy"]
    applies_to: tuple[Literal["click", "open"], ...] = ("click", "open")


class UserAgentEntry(_Entry):
    contains: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()


class NetworkEntry(_Entry):
    cidr: tuple[str, ...]

    @field_validator("cidr")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP network such as 17.0.0.0/8") from None
        return value


class Lists(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str | None = None
    user_agents: tuple[UserAgentEntry, ...] = ()
    networks: tuple[NetworkEntry, ...] = ()

    # compiled once (lowered substrings, parsed networks): a verdict is on every hit's path
    _agents: list = PrivateAttr(default_factory=list)
    _nets: list = PrivateAttr(default_factory=list)
    # the answers per (User-Agent, kind) and (address, kind), bounded: the same browsers and
    # scanners come back all day, and a scan of every list is a tenth of a millisecond a hit
    _agent_memo: Any = PrivateAttr(default=None)
    _network_memo: Any = PrivateAttr(default=None)

    def model_post_init(self, context: object) -> None:
        self._agents = [(e, frozenset(e.exact), tuple(s.lower() for s in e.contains)) for e in self.user_agents]
        self._nets = [(e, [ipaddress.ip_network(c, strict=False) for c in e.cidr]) for e in self.networks]
        self._agent_memo = functools.lru_cache(maxsize=4096)(self._agent)
        self._network_memo = functools.lru_cache(maxsize=4096)(self._network)

    def agent(self, user_agent: str, kind: str) -> UserAgentEntry | None:
        found: UserAgentEntry | None = self._agent_memo(user_agent, kind)
        return found

    def network(self, ip: str, kind: str) -> tuple[NetworkEntry, str] | None:
        found: tuple[NetworkEntry, str] | None = self._network_memo(ip, kind)
        return found

    def _agent(self, user_agent: str, kind: str) -> UserAgentEntry | None:
        lowered, trimmed = user_agent.lower(), user_agent.strip()
        for entry, exact, contains in self._agents:
            if kind in entry.applies_to and (trimmed in exact or any(s in lowered for s in contains)):
                return entry
        return None

    def _network(self, ip: str, kind: str) -> tuple[NetworkEntry, str] | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for entry, nets in self._nets:
            if kind in entry.applies_to:
                for net in nets:
                    if address.version == net.version and address in net:
                        return entry, str(net)
        return None


class ListsError(ValueError):
    """A lists file that cannot be used; the message names the file, line and column."""


SHIPPED = "machines.yaml"


def load_lists(path: Path | None = None) -> Lists:
    """The file at `path` (instead of the shipped one), or the shipped lists."""
    if path is None:
        text = resources.files("fsl.signals").joinpath("data", SHIPPED).read_text(encoding="utf-8")
        where = f"fsl/signals/data/{SHIPPED}"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            raise ListsError(f"{path}: cannot read the machine lists: {exc}") from None
        where = str(path)
    return parse_lists(text, where)


def parse_lists(text: str, where: str) -> Lists:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    from fsl.yaml_bounds import check_bounds

    try:
        check_bounds(text)
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise ListsError(f"{where}{at}: {exc.problem}") from None
    try:
        return Lists.model_validate(_plain(data) if data is not None else {})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err.get("loc") or ())
        at = _position(data, loc)
        path = ".".join(str(p) for p in loc)
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        raise ListsError(f"{where}{at}: `{path}`: {message}") from None


def _plain(data):
    """ruamel's commented maps and sequences as dicts and lists (dates as text)."""
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    if data is None or isinstance(data, (str, int, float, bool)):
        return data
    return str(data)


def _position(data, loc: tuple) -> str:
    """`:line:column` of the deepest node of `loc` that the document has."""
    node, found = data, ""
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None:
                line, column = lc.key(part) if isinstance(node, dict) else lc.item(part)
                found = f":{line + 1}:{column + 1}"
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return found


# ---------------------------------------------------------------- the rules

@dataclass(frozen=True)
class Rules:
    after_delivery_s: float = 30.0
    trap_window_s: float = 120.0
    burst_window_s: float = 10.0
    burst_share: float = 0.75  # "all or most" of a message's links
    lists: Lists = field(default_factory=Lists)


def classify(hit: Hit, message: Message, earlier: Sequence[Hit], rules: Rules,
             provider_flag: bool | None = None) -> Verdict:
    """The verdict on `hit` given the message's hits before it (any order)."""
    evidence = list(_timing(hit, message, earlier, rules))
    back = rules.trap_window_s if hit.kind == "trap" else 0.0
    if any(" links fetched within " in e for e in evidence):
        back = max(back, rules.burst_window_s)
    evidence += _request(hit, rules.lists)
    if provider_flag:
        evidence.append("the provider flagged it as a machine")
    if evidence:
        return Verdict(True, tuple(evidence), back)
    return Verdict(False, tuple(_human(hit, message, rules.lists)))


def _timing(hit: Hit, message: Message, earlier: Sequence[Hit], rules: Rules) -> Iterable[str]:
    if hit.kind == "trap":
        yield "fetched the hidden trap link, which no person can see"
    traps = [h.at_ms for h in earlier if h.kind == "trap" and 0 <= hit.at_ms - h.at_ms <= rules.trap_window_s * 1000]
    if traps and hit.kind != "trap":
        yield f"{_span(hit.at_ms - max(traps))} after a hit on the hidden trap link"
    if hit.kind == "click" and message.links >= 2:
        since = hit.at_ms - rules.burst_window_s * 1000
        fetched = {h.link for h in earlier if h.kind == "click" and h.at_ms >= since} | {hit.link}
        needed = max(2, math.ceil(rules.burst_share * message.links))
        if len(fetched) >= needed:
            yield (f"{len(fetched)} of the message's {message.links} links fetched within "
                   f"{_span(rules.burst_window_s * 1000)}")
    if message.handed_at_ms is not None:
        age = hit.at_ms - message.handed_at_ms
        if age < rules.after_delivery_s * 1000:
            yield f"{_span(max(age, 0))} after hand-over (sooner than {_span(rules.after_delivery_s * 1000)})"


def _request(hit: Hit, lists: Lists) -> list[str]:
    kind = "open" if hit.kind == "open" else "click"
    out = []
    if hit.method == "HEAD":
        out.append("a HEAD request (link checkers send them; browsers GET)")
    agent = (hit.user_agent or "").strip()
    if not agent:
        out.append("no User-Agent (every browser sends one)")
    else:
        entry = lists.agent(agent, kind)
        if entry is not None and entry.kind != "person_proxy":
            out.append(f"User-Agent of {entry.name}")
    if hit.ip:
        found = lists.network(hit.ip, kind)
        if found is not None and found[0].kind != "person_proxy":
            out.append(f"network {found[1]} of {found[0].name}")
    return out


def _human(hit: Hit, message: Message, lists: Lists) -> list[str]:
    out = []
    if message.handed_at_ms is not None:
        out.append(f"{_span(max(hit.at_ms - message.handed_at_ms, 0))} after hand-over")
    entry = lists.agent((hit.user_agent or "").strip(), "open" if hit.kind == "open" else "click")
    if entry is not None and entry.kind == "person_proxy":
        out.append(f"through {entry.name}, which fetches when a person opens the message")
    out.append("no machine evidence")
    return out


def _span(ms: float) -> str:
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def classify_provider_hit(kind: Literal["click", "open"], at_ms: int, *, flag: bool | None, ip: str | None = None,
                          user_agent: str | None = None, handed_at_ms: int | None = None,
                          rules: Rules | None = None) -> Verdict:
    """An `opened`/`clicked` a provider's webhook reports (fsl.signals.providers): the provider's
    own flag (Mailgun `client-info.bot`, SendGrid `sg_machine_open`), the IP and User-Agent it
    passes on against the lists, and the hand-over timing when the message is known.  A
    provider's hit has no trap, burst or missing User-Agent evidence: it is not our request."""
    rules = rules if rules is not None else Rules(lists=load_lists())
    hit = Hit(kind, None, at_ms, ip, user_agent or None)
    evidence = list(_timing(hit, Message(handed_at_ms, 0), (), rules))
    if user_agent:
        evidence += [e for e in _request(hit, rules.lists) if not e.startswith("no User-Agent")]
    elif ip:
        evidence += [e for e in _request(Hit(kind, None, at_ms, ip, "-"), rules.lists) if e.startswith("network")]
    if flag:
        evidence.append("the provider flagged it as a machine")
    if evidence:
        return Verdict(True, tuple(evidence))
    return Verdict(False, ("the provider's flag and the lists show no machine",))
