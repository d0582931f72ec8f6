"""How engagement comes back (SIGNALS.md): tracking tokens and recording signals as events."""
