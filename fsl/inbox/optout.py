"""Requests to stop, read in the new text of a reply only (SIGNALS.md 3).

email-reply-parser cuts the quoted history and signature of a reply; it
knows English attribution lines ("On ... wrote:"), so the lines other mail
clients put above a quote ("Am ... schrieb", "Le ... a écrit", "-----原始邮件-----",
Outlook's "From:/Von:/De:" block) are cut here first.  Our own footer (its
unsubscribe link) is in the quote, never in the new text.
"""
from __future__ import annotations

import re

from email_reply_parser import EmailReplyParser

_HISTORY = re.compile(
    r"^\s*(?:"
    r"on .{1,200}wrote:?|am .{1,200}schrieb.{0,80}:?|le .{1,200}a écrit\s*:?|el .{1,200}escribió:?|"
    r"em .{1,200}escreveu:?|在\s*.{1,200}写道[:：]?|.{0,200}(?:wrote|schrieb|a écrit|escribió|escreveu)\s*:\s*|"
    r"-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original|mensagem original|"
    r"原始邮件|原始郵件|元のメッセージ|forwarded message|weitergeleitete nachricht)\s*-{2,}|"
    r"_{10,}|"
    r"(?:from|von|de|发件人|寄件者|差出人)\s*[:：].{1,200}"
    r")\s*$",
    re.I)
STOP = re.compile(
    r"\bunsubscribe\b|\bremove me\b|\bremove (?:my (?:e-?mail|address|name)|us)\b|take me off|"
    r"\bopt(?:ing)?[- ]?out\b|(?:stop|quit|cease) (?:e-?mailing|emailing|contacting|sending|writing)|"
    r"do not (?:contact|e-?mail|email|write to) (?:me|us)|don'?t (?:contact|e-?mail|email|write to) (?:me|us)|"
    r"no (?:more|further) e-?mails|not interested[,. ]+(?:please )?(?:stop|remove)|^stop\.?$|"
    r"abmelden|austragen|entfernen sie mich|nehmen sie mich .{0,40}(?:aus|von)|keine (?:weiteren )?(?:e-?mails|nachrichten)|"
    r"nicht mehr (?:kontaktieren|anschreiben|schreiben)|"
    r"désinscri|desinscri|désabonne|désabonn|retirez[- ]moi|ne plus (?:me )?(?:contacter|écrire|envoyer)|"
    r"ne me contactez plus|"
    r"darme de baja|dar de baja|(?:elimínenme|eliminenme|quítenme|quitenme|bórrenme)|no me (?:contacten|escriban|envíen)|"
    r"dejen de (?:escribirme|enviarme|contactarme)|"
    r"descadastr|cancelar (?:a )?(?:inscrição|assinatura)|remova[mn]?(?:-me| me)|não me (?:contate|contatem|envie|enviem|escreva)|"
    r"parem de (?:me )?(?:enviar|escrever|contatar)|"
    r"退订|退訂|取消订阅|请不要再(?:联系|联络|发|給|给)|請不要再|不要再(?:联系|发|给我发)|别再(?:联系|发)|"
    r"配信停止|配信を停止|連絡しないで|送らないで|登録解除|購読解除",
    re.I | re.M)


def new_text(text: str) -> str:
    """The part of a reply its writer typed: before the first attribution or separator line,
    without `>` quotes and the signature (email-reply-parser)."""
    lines = text.replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        if i and _HISTORY.match(line):
            lines = lines[:i]
            break
    kept = "\n".join(lines)
    try:
        return EmailReplyParser.parse_reply(kept).strip()
    except Exception:  # noqa: BLE001 - the parser's regexes on odd text: keep the uncut text
        return kept.strip()


def stop_phrase(text: str) -> str | None:
    found = STOP.search(text)
    return found.group(0) if found else None
