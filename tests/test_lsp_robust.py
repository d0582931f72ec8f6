"""The language server's features never raise on a half-typed document.

An editor asks for completion, hover, definitions and formatting at any
position of any text, most of it broken; each feature must answer (perhaps
with nothing), never fail.  The end-to-end behaviour is tests/test_lsp.py's.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsl.lsp import completion, hover, navigation, symbols
from fsl.lsp.analysis import analyse
from fsl.lsp.formatting import FormatRefused, format_document
from fsl.lsp.incremental import ChunkCache
from fsl.lsp.projects import Projects

HERE = Path(__file__).parent
PLAYBOOK = (HERE / "fixtures" / "lsp" / "onboarding.fsl").read_text()
PIECES = ["\n", "    ", ":", '"', "(", ")", "goto ", "deal.", "step x", "if ", "==", "playbook q:\n", "\t", "#", "[", "1"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, len(PLAYBOOK)), length=st.integers(0, 40), junk=st.lists(st.sampled_from(PIECES), max_size=4),
       line=st.integers(0, 20), character=st.integers(0, 60))
def test_features_answer_on_broken_text(tmp_path_factory, cut, length, junk, line, character) -> None:
    root = tmp_path_factory.getbasetemp() / "lsp_robust"
    if not root.exists():
        root.mkdir()
        shutil.copy(HERE / "fixtures" / "check" / "fsl.yaml", root / "fsl.yaml")
        shutil.copytree(HERE / "fixtures" / "check" / "templates", root / "templates")
    text = PLAYBOOK[:cut] + "".join(junk) + PLAYBOOK[cut + length:]
    path = str(root / "p.fsl")
    project = Projects().for_file(path)
    cache = ChunkCache()
    analyse(path, PLAYBOOK, project, cache)
    a = analyse(path, text, project, cache)
    completion.complete(a, line, character)
    hover.hover(a, line, character)
    navigation.definition(a, line, character)
    navigation.references(a, line, character, True)
    navigation.prepare_rename(a, line, character)
    try:
        navigation.rename(a, line, character, "renamed")
    except navigation.RenameRefused:
        pass
    symbols.document_symbols(a.module)
    try:
        format_document(a)
    except FormatRefused:
        pass
