"""LLM-written messages (`renderer: llm`) behind hard guards.

    schema  the answer's JSON schema, `Draft`, `parse_draft`
    guards  `GuardSettings`, `check(draft, settings) -> [Verdict]`
    client  `LLMClient` (OpenAI-compatible endpoint, own retries), `ModelUnavailable`
    cache   `RenderCache` protocol, `MemoryCache`, `cache_key`
    render  `render_llm`, `render_many`, their sync wrappers, `RenderOutcome`
    review  the review queue (`reviews` table, schema v2): held, approved, rejected, released, sent

The runtime's side lives in fsl/runtime/: `llm_queue.py` (the outbox's
`renderer: llm` path: send what passed, hold the rest) and `preview.py`
(`fsl render` and the helpers of `review edit/retry`); the commands are
fsl/cli/review.py.

Nothing in this package sends a message: an `ok` outcome may be sent by the
caller, a `held` one goes to review.
"""
from fsl.llm.cache import MemoryCache, RenderCache, cache_key
from fsl.llm.client import LLMClient, LLMNotConfigured, ModelUnavailable
from fsl.llm.guards import GUARDS, GuardSettings, Verdict, check
from fsl.llm.render import (
    Attempt,
    RenderJob,
    RenderOutcome,
    build_messages,
    contact_context,
    render_llm,
    render_llm_sync,
    render_many,
    render_many_sync,
)
from fsl.llm.schema import DRAFT_SCHEMA, Draft, DraftError, parse_draft

__all__ = [
    "Attempt", "DRAFT_SCHEMA", "Draft", "DraftError", "GUARDS", "GuardSettings", "LLMClient", "LLMNotConfigured",
    "MemoryCache", "ModelUnavailable", "RenderCache", "RenderJob", "RenderOutcome", "Verdict",
    "build_messages", "cache_key", "check", "contact_context", "parse_draft", "render_llm", "render_llm_sync",
    "render_many", "render_many_sync",
]
