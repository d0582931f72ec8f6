"""`fsl lsp` with a printer bug planted, for tests/test_lsp.py's refusal test.

The printer's output gets one step's delay changed, as a real printer bug
could; `fsl fmt`'s own safety checks must then refuse the formatting, and the
server must say so instead of editing the document.
"""
from __future__ import annotations

import fsl.fmt
from fsl.fmt.printer import format_module

fsl.fmt.format_module = lambda module, source: format_module(module, source).replace("after 2 days", "after 3 days")

if __name__ == "__main__":
    from fsl.lsp.server import main

    main()
