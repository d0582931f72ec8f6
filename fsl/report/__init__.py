"""`fsl report`: funnels, win-back rates and follow-up execution, over any `Store`.

compute.py turns a store into a `Report` (model.py); terminal.py, html.py
and `--format json` only present it.  README.md says what every figure means.
"""
from __future__ import annotations

from .compute import build_report
from .model import Report

__all__ = ["Report", "build_report"]
