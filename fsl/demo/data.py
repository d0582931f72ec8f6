"""Sample contacts, deals and history for `fsl demo`, generated from a seed.

About fifty people in the shapes the example playbooks (sequences/) are
written for, spread over time zones from Los Angeles to Sydney:

* a sales pipeline: deals with two to four stakeholders (roles, who attended,
  the primary contact); most have a meeting in the first days
  (post_meeting, multi_stakeholder); two went silent weeks ago
  (reengage_silent_deal); one is won and one lost later in the month;
* open leads graded A, B or C (tier cadences), some of whom send an inquiry
  (inquiry_response);
* customers: some barely log in or keep opening tickets (churn_risk), some
  renew within two months (renewal_reminder);
* customers who left over price in the last ninety days (winback_price), and
  a few who left for other reasons (no playbook for them).

The same seed gives the same people, deals and events.
"""
from __future__ import annotations

import random
from typing import Any
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from fsl.engine.model import Contact, Deal, Event

UTC = timezone.utc

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Mei",
         "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wen", "Xavier", "Yara", "Zoe",
         "Arjun", "Bianca", "Carlos", "Dana", "Emeka", "Freya", "Gustavo", "Hana", "Ivan", "Julia", "Kofi", "Lena",
         "Mateo", "Noor", "Oskar", "Paula", "Rafael", "Sofia", "Tomas", "Ulla", "Viktor", "Wanjiru", "Yusuf", "Zain"]
LAST = ["Ruiz", "Okafor", "Martin", "Patel", "Novak", "Haddad", "Kim", "Tanaka", "Silva", "Berg", "Adeyemi",
        "Murphy", "Chen", "Kowalski", "Farouk", "Sharma", "Walsh", "Moreno", "Lindqvist", "Rao", "Mensah", "Costa",
        "Zhang", "Dubois", "Nakamura", "Fischer", "Garcia", "Hughes", "Ibrahim", "Jensen"]
COMPANIES = [("Northwind Traders", "logistics"), ("Fabrikam", "manufacturing"), ("Contoso Health", "healthcare"),
             ("Tailspin Toys", "retail"), ("Litware", "software"), ("Proseware", "software"),
             ("Adventure Works", "retail"), ("Wingtip Foods", "food"), ("Lucerne Publishing", "media"),
             ("Margie's Travel", "travel"), ("Trey Research", "biotech"), ("Coho Vineyard", "food"),
             ("Blue Yonder Airlines", "travel"), ("Humongous Insurance", "finance"), ("Woodgrove Bank", "finance"),
             ("Alpine Ski House", "retail"), ("Graphic Design Institute", "education"), ("Relecloud", "software"),
             ("VanArsdel", "manufacturing"), ("Bellows College", "education")]
ZONES = ["America/New_York", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
         "Europe/London", "Europe/Berlin", "Europe/Madrid", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney",
         "America/Sao_Paulo"]
OWNERS = [("ana.ruiz@acme.example", "Ana Ruiz", "maria.lopez@acme.example"),
          ("ben.okafor@acme.example", "Ben Okafor", "maria.lopez@acme.example"),
          ("chloe.martin@acme.example", "Chloe Martin", "dev.patel@acme.example")]
TITLES = {"c_suite": ["CEO", "CFO", "COO", "CTO"], "vp": ["VP Operations", "VP Finance", "VP Engineering"],
          "manager": ["Operations Manager", "IT Manager", "Procurement Manager"],
          "ic": ["Analyst", "Engineer", "Coordinator"]}
PAINS = ["slow onboarding of new warehouses", "manual month-end reconciliation", "carrier rates all over the place",
         "no single view of orders", "support tickets piling up", "too many spreadsheets"]


@dataclass
class DemoData:
    contacts: list[Contact] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    history: list[Event] = field(default_factory=list)  # before the start: counted, triggers nothing
    events: list[Event] = field(default_factory=list)  # during the run: meetings, inquiries, logins, ...


class _Gen:
    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.data = DemoData()
        self.names = self.rng.sample([(f, l) for f in FIRST for l in LAST], 80)
        self.n = 0

    def at(self, day: float, hour: int | None = None) -> datetime:
        t = self.start + timedelta(days=day)
        if hour is not None:
            t = t.replace(hour=hour, minute=self.rng.choice([0, 10, 20, 30, 45]))
        return t

    def person(self, company: tuple[str, str], status: str, **extra) -> Contact:
        self.n += 1
        first, last = self.names[self.n]
        owner, owner_name, manager = self.rng.choice(OWNERS)
        seniority = extra.pop("seniority", None) or self.rng.choice(["c_suite", "vp", "manager", "manager", "ic"])
        domain = company[0].lower().replace("'", "").replace(" ", "") + ".example"
        fields: dict[str, Any] = {
            "id": f"c{self.n:03d}", "email": f"{first.lower()}.{last.lower()}@{domain}",
            "phone": f"+1555{self.rng.randrange(1000000, 9999999)}", "timezone": self.rng.choice(ZONES),
            "owner": owner, "owner_name": owner_name, "owner_manager": manager,
            "first_name": first, "last_name": last, "company": company[0], "industry": company[1],
            "title": self.rng.choice(TITLES[seniority]), "seniority": seniority,
            "tier": self.rng.choice("ABC"), "value": self.rng.choice(["high", "normal", "general"]),
            "status": status, "ltv": self.rng.choice([400, 800, 1500, 3200, 6000, 12000]),
            "plan": self.rng.choice(["starter", "team", "business"]), "churn_reason": "unknown",
            "churned_at": None, "contract_end": None,
        }
        fields.update(extra)
        contact = Contact(fields["id"], fields)
        self.data.contacts.append(contact)
        return contact

    def event(self, at: datetime, type_: str, contact: str | None = None, deal: str | None = None,
              **fields) -> None:
        target = self.data.history if at < self.start else self.data.events
        target.append(Event(at, type_, contact, deal, None, fields))


def generate(seed: int, start: datetime, days: int) -> DemoData:
    g = _Gen(seed, start)
    rng = g.rng
    companies = rng.sample(COMPANIES, len(COMPANIES))
    # -- the pipeline: 8 deals
    stages = ["discovery", "demo", "demo", "proposal", "proposal", "negotiation", "proposal", "negotiation"]
    roles = ["economic", "technical", "champion", "procurement", "end_user", "legal"]
    for i, stage in enumerate(stages):
        company = companies[i]
        people = [g.person(company, "prospect", seniority="vp" if j == 0 else None,
                           tier=rng.choice("ABBCCC"))  # deals already have a rep's attention
                  for j in range(rng.randint(2, 4))]
        stakes = {}
        for j, p in enumerate(people):
            stakes[p.id] = {"role": "economic" if j == 0 else rng.choice(roles[1:]),
                            "attended": j == 0 or rng.random() < 0.75, "primary": j == 0}
        deal = Deal(f"d{i + 1:02d}", {"id": f"d{i + 1:02d}", "name": company[0], "stage": stage,
                                      "amount": rng.choice([18000, 32000, 48000, 65000, 90000, 140000]),
                                      "pain_point": rng.choice(PAINS), "next_step": "a pilot plan",
                                      "competitor": rng.choice([None, "Globex", "Initech"])}, stakes)
        g.data.deals.append(deal)
        if i < 6:  # a meeting in the first ten days
            g.event(g.at(rng.randint(0, 9), rng.choice([14, 15, 16, 17, 18, 19])), "meeting_ended", deal=deal.id,
                    contact=people[0].id)
        else:  # silent for weeks: met 40-90 days ago, nothing since
            g.event(g.at(-rng.randint(40, 90), 15), "meeting_ended", deal=deal.id, contact=people[0].id)
    g.event(g.at(min(days - 3, 18), 16), "update", deal="d04", set={"stage": "closed_won"})
    g.event(g.at(min(days - 2, 22), 16), "update", deal="d02", set={"stage": "closed_lost"})
    # -- open leads, graded A/B/C; some send an inquiry
    for i in range(10):
        lead = g.person(companies[8 + i % 6], "lead", tier="ABCABCABCA"[i])
        if i == 9:  # a lead typed in without an address: its emails fail and are reported
            lead.fields["email"] = None
        if i % 2 == 0:
            g.event(g.at(rng.randint(1, 12), rng.choice([2, 9, 13, 20])), "inquiry_received", contact=lead.id,
                    source="test" if i == 8 else rng.choice(["website", "trade show", "referral"]))
    # -- customers: logins, tickets, renewals
    for i in range(10):
        end = start + timedelta(days=rng.randint(20, 55)) if i < 4 else start + timedelta(days=rng.randint(120, 300))
        c = g.person(companies[12 + i % 6], "active", contract_end=end, ltv=rng.choice([3200, 6000, 12000]))
        rate = [0.05, 0.1, 0.6, 0.9, 1.5, 0.08, 0.7, 1.2, 0.3, 1.0][i]  # logins per day
        for d in range(-30, days):
            if rng.random() < rate:
                g.event(g.at(d, rng.choice([9, 10, 14, 16])), "login", contact=c.id)
        if i in (1, 6):
            for _ in range(rng.randint(3, 6)):
                g.event(g.at(rng.randint(-20, days - 1), 11), "ticket_opened", contact=c.id,
                        sentiment=rng.choice(["negative", "neutral", "negative"]))
    # -- customers who left: over price (win-back) and for other reasons
    for i in range(8):
        reason = "price" if i < 6 else rng.choice(["missing_feature", "service"])
        g.person(companies[i % len(companies)], "churned", churn_reason=reason,
                 churned_at=start - timedelta(days=rng.randint(5, 80)),
                 ltv=[12000, 6000, 2500, 1500, 600, 300, 4000, 900][i])
    return g.data
