"""Short texts for hover, condensed from docs/reference/language.md (keep them in step)."""
from __future__ import annotations

KEYWORDS: dict[str, str] = {
    "playbook": "`playbook NAME:` -- a playbook: its settings and rules, then its steps.",
    "description": '`description "..."` -- for people and reports.',
    "owner": '`owner "..."` -- for people and reports; also receives tasks nobody else can take.',
    "priority": "`priority N` -- 0-100 (default 50): when a shared cap lets only one through, the higher goes first.",
    "enroll": "`enroll on EVENT [for each stakeholder] [where EXPR]` enrolls the contact an event concerns; "
              '`enroll when EXPR [check every DURATION | check cron "..."]` every contact for whom EXPR holds.',
    "reenroll": "`reenroll never` / `reenroll after DURATION` -- may a contact enter again once an enrollment ended "
                "(default: never).",
    "timezone": '`timezone EXPR [default "Zone/Name"]` -- the contact\'s IANA zone (E213 for a bad literal).',
    "window": "`window DAYS HH:MM-HH:MM, ...` -- when steps may run, in local time; the end is excluded.",
    "skip": '`skip holidays "CC"` -- no step runs on the public holidays of country CC (ISO 3166, E215).',
    "holidays": '`skip holidays "CC"` -- no step runs on the public holidays of country CC (ISO 3166, E215).',
    "offer": "`offer max PERCENT` (setting): the deepest discount any step may offer (E303). "
             "`offer discount PERCENT [expires DURATION]` (action): an offer attached to the sends that follow.",
    "cap": "`cap [CHANNEL] N per DURATION [across deal]` (rolling) or `cap [CHANNEL] N total` (ends the enrollment).",
    "stop": "`stop on EVENT [across deal] [where EXPR] [as OUTCOME]` ends the enrollment when the event arrives; "
            "`stop when EXPR [as OUTCOME]` is looked at before each step.",
    "pause": "`pause on EVENT [where EXPR] for DURATION` or `... until EXPR [default DURATION]` -- sleep, then resume.",
    "let": "`let NAME = EXPR` -- a name for an expression, usable in the playbook's expressions.",
    "step": "`step NAME [TIMING]:` -- a step; timing: `after DURATION`, `at day N [HH:MM]`, `at cron \"...\"`, "
            "`... every DURATION [max N]`.",
    "after": "`after DURATION` -- due that long after the previous step ran (the first: after enrollment).",
    "at": "`at day N [HH:MM]` -- on day N of the enrollment; `at cron \"m h dom mon dow\"` -- at the next firing.",
    "every": "`every DURATION [max N]` -- repeats the step, at most N times (W406 without `max`).",
    "send": '`send CHANNEL "template" [to EXPR] [with name = EXPR, ...]` -- render the template and send it.',
    "task": '`task KIND "text" [to EXPR] [due DURATION]` -- a to-do for a person.',
    "notify": '`notify EXPR "text"` -- an internal alert to a person.',
    "set": "`set contact.FIELD = EXPR`, `set vars.NAME = EXPR` -- update a contact field or a variable.",
    "wait": "`wait DURATION` resumes the rest of the step later; "
            "`wait up to DURATION for EVENT [where EXPR]` resumes at the event, or after DURATION at the latest.",
    "goto": "`goto STEP` -- continue with that step; its own timing applies from now (a loop needs a delay, E302).",
    "end": "`end [as OUTCOME]` -- end the enrollment (default `completed`).",
    "if": "`if EXPR:` / `elif EXPR:` / `else:` -- branch.",
    "elif": "`elif EXPR:` -- another branch of an `if`.",
    "else": "`else:` -- the branch taken when no other holds.",
    "match": '`match EXPR:` with `case "a", "b":` and `else:` -- branch on a value.',
    "case": '`case "a", "b":` -- a branch of a `match`.',
    "where": "`where EXPR` -- the rule applies only when EXPR holds (`event.*` is the event's fields).",
    "across": "`across deal` -- counts, or stops, for every stakeholder of the same deal.",
    "none": "`none` -- no value; arithmetic with none is none, comparisons with none are false except `== none`.",
}

FUNCTIONS: dict[str, str] = {
    "opened": "`opened([STEP])` -- whether the message the step sent (or any of the enrollment) was opened.",
    "clicked": '`clicked([STEP] [, "tag"])` -- whether a link was clicked; a tag must be one of the template\'s '
               "links (E211).",
    "replied": "`replied([STEP])` -- whether the message got a reply.",
    "forwarded": "`forwarded([STEP])` -- whether the message was forwarded.",
    "delivered": "`delivered([STEP])` -- whether the message was delivered.",
    "count": "`count(EVENT [, DURATION])` -- how many such events the contact had (in the last DURATION).",
    "last": "`last(EVENT)` -- when the contact last had it, or none.",
    "days_since": "`days_since(DATETIME)` -- whole days since then, in the contact's zone.",
    "now": "`now()` -- the current instant.",
    "lower": "`lower(S)` -- the string in lower case.",
    "len": "`len(LIST)` -- the number of items.",
    "coalesce": "`coalesce(A, B, ...)` -- the first value that is not none.",
}
