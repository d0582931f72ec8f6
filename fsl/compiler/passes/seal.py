"""Seal the plan with the hash of its meaning (hashing.py)."""
from ..hashing import meaning_hash
from .context import PassContext


def run(ctx: PassContext) -> None:
    ctx.out["hash"] = meaning_hash(ctx.out)
