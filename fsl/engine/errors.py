"""An exception as the journal keeps it (the engine, its rules and the runtime's
quarantine all write such text)."""
from __future__ import annotations


def error_text(exc: Exception) -> str:
    """An exception as journal text: bounded, and storable as it may quote user
    data (PostgreSQL text refuses NUL; UTF-8, a lone surrogate)."""
    text = str(exc)
    text = text[:300] + ("..." if len(text) > 300 else "")
    text = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return f"{type(exc).__name__}: {text}"
