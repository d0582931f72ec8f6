"""What `/metrics` shows (Prometheus text): one registry per app, no global state.

Labels are endpoint names and event types, never a token, an address or a
secret: nothing a request carries reaches this page.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.hits = Counter("fsl_http_requests", "requests answered, by endpoint and status",
                            ["endpoint", "status"], registry=r)
        self.recorded = Counter("fsl_events_recorded", "events recorded, by type", ["type"], registry=r)
        self.verify_failed = Counter("fsl_webhook_verifications_failed",
                                     "webhook calls refused for bad credentials", ["endpoint"], registry=r)
        self.by_source = Counter("fsl_signals_recorded", "signals recorded, by source (provider) and type",
                                 ["source", "type"], registry=r)
        self.items_rejected = Counter("fsl_webhook_items_rejected",
                                      "webhook items not recorded: malformed or of an unknown kind", ["endpoint"],
                                      registry=r)
        self.tokens_rejected = Counter("fsl_tracking_tokens_rejected",
                                       "tracking requests with a forged, tampered or unknown token",
                                       ["endpoint"], registry=r)
        self.latency = Histogram("fsl_request_seconds", "time to answer a request, by endpoint",
                                 ["endpoint"], registry=r)

    def text(self) -> bytes:
        return generate_latest(self.registry)
