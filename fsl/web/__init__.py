"""The ASGI application of `fsl serve` (SIGNALS.md): tracking, unsubscribe, the events endpoint."""
