"""Seal the plan with the hash of its meaning (hashing.py)."""
from ..hashing import meaning_hash


def run(ctx) -> None:
    ctx.out["hash"] = meaning_hash(ctx.out)
