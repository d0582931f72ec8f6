"""The `fsl` command: `main.py` is the group (commands load lazily), one module per
family of commands, each a thin layer over the library (fsl/api.py, fsl/runtime/,
fsl/engine/, fsl/report/, fsl/llm/)."""
