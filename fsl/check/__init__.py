"""The checking stage: name resolution, types and lints over parsed modules.

Each pass is its own module and runs from the ordered list in passes.py.
"""
from .context import CheckContext
from .passes import run_checks

__all__ = ["CheckContext", "run_checks"]
