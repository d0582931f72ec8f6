"""`fsl lsp`: the language server, for editors (docs/authoring/editors.md)."""
from __future__ import annotations

import click


@click.command("lsp")
@click.option("--stdio", is_flag=True, default=True, hidden=True,
              help="speak LSP over standard input and output (the only transport; accepted for editors that pass it)")
def lsp_command(stdio: bool) -> None:
    """Run the FSL language server over stdio (diagnostics, completion, hover, navigation, rename, formatting)."""
    from fsl.lsp.server import main

    main()
