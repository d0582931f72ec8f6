"""Taking known secrets out of text before it becomes a detail, a reason or a log line.

One home for the channel adapters (SMTP passwords, webhook tokens and
secret-bearing URLs) and the model client (the API key).  Standard library
only, so every layer may import it.
"""
from __future__ import annotations

import base64
import re
from typing import Any, Iterable

MARK = "[redacted]"
_BEARER = re.compile(r"Bearer\s+\S+", re.I)


class Redactor:
    """Removes known secrets from text, folds white space and shortens it.

    Besides each secret as written, its base64 form is removed (AUTH PLAIN
    and LOGIN send credentials base64-encoded, and a server may echo them),
    and so is whatever follows `Bearer ` (a server echoing an Authorization
    header we did not know to be secret).  Secrets shorter than `shortest`
    are left alone unless the caller knows its text names them (a store
    password in the store's own error).
    """

    def __init__(self, secrets: Iterable[Any], shortest: int = 3) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret is None or isinstance(secret, bool):
                continue
            text = str(secret)
            if len(text) < shortest:  # too short to redact without mangling ordinary words
                continue
            forms.add(text)
            forms.add(base64.b64encode(text.encode("utf-8")).decode("ascii").rstrip("="))
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str, limit: int = 300) -> str:
        for form in self._forms:
            text = text.replace(form, MARK)
        text = _BEARER.sub(f"Bearer {MARK}", text)
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 1] + "…"
