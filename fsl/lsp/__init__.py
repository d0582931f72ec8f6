"""`fsl lsp`: the language server (pygls over stdio).

It reads playbooks with the one parser (`fsl/syntax/`), checks them with the
checker (`fsl/check/`) against the project of `project.py`, and formats with
`fsl/fmt/`: an editor sees exactly what `fsl check` and `fsl fmt` see.

- `server.py`: the wiring (features, debounced analysis, publishing);
- `analysis.py`: one document read and checked, and its project (`projects.py`);
- `convert.py`: spans and LSP positions, paths and URIs;
- `index.py`: what a position in a document names (steps, lets, fields, ...);
- `diagnostics.py`, `completion.py`, `hover.py`, `navigation.py`
  (definition, references, rename), `symbols.py`, `formatting.py`,
  `actions.py` (the checker's did-you-mean fixes), `words.py` (hover texts).
"""
