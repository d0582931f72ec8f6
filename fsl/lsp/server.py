"""The server's wiring: documents in, analyses, features out (pygls over stdio).

Each change to a document schedules its analysis after a short quiet time
(DEBOUNCE): typing a word costs one analysis, not one per key.  Requests
(hover, definition, ...) use the latest text: an analysis older than the
document is redone first, so positions always match what the user sees.
"""
from __future__ import annotations

import asyncio
import dataclasses

from lsprotocol import types as t
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from .. import __version__
from . import actions, completion, formatting, hover, navigation, symbols
from .analysis import Analysis, analyse
from .convert import path_to_uri, uri_to_path
from .diagnostics import to_lsp
from .incremental import ChunkCache
from .projects import Projects

# Seconds of quiet after a change before it is analysed: below a keystroke's
# interval for a fast typist, long enough to fold a burst into one analysis.
DEBOUNCE = 0.02


class FslServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("fsl", __version__, text_document_sync_kind=t.TextDocumentSyncKind.Incremental)
        self.projects = Projects()
        self.analyses: dict[str, Analysis] = {}
        self.chunks: dict[str, ChunkCache] = {}
        self.pending: dict[str, asyncio.Task] = {}
        self.others: dict[str, set[str]] = {}  # document uri -> other files it published diagnostics for

    def current(self, uri: str) -> Analysis:
        """The analysis of the document's present text."""
        doc = self.workspace.get_text_document(uri)
        found = self.analyses.get(uri)
        if found is None or found.text != _normal(doc.source):
            found = self.analyse(uri)
        return found

    def lines_now(self, uri: str) -> Analysis:
        """The latest analysis with the document's present text (completion reads only the lines)."""
        doc = self.workspace.get_text_document(uri)
        found = self.analyses.get(uri) or self.analyse(uri)
        text = _normal(doc.source)
        return found if found.text == text else dataclasses.replace(found, text=text)

    def analyse(self, uri: str) -> Analysis:
        doc = self.workspace.get_text_document(uri)
        path = uri_to_path(uri)
        cache = self.chunks.setdefault(uri, ChunkCache())
        result = analyse(path, doc.source, self.projects.for_file(path), cache)
        self.analyses[uri] = result
        return result

    def publish(self, uri: str) -> None:
        doc = self.workspace.get_text_document(uri)
        a = self.analyse(uri)
        self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(
            uri=uri, version=doc.version, diagnostics=[to_lsp(d) for d in a.diagnostics]))
        others = {path_to_uri(f): ds for f, ds in a.by_file.items() if f != a.path}
        for gone in self.others.get(uri, set()) - set(others):
            self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=gone, diagnostics=[]))
        for other, ds in others.items():
            self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(
                uri=other, diagnostics=[to_lsp(d) for d in ds]))
        self.others[uri] = set(others)

    def schedule(self, uri: str) -> None:
        if (task := self.pending.pop(uri, None)) is not None:
            task.cancel()
        self.pending[uri] = asyncio.get_running_loop().create_task(self._later(uri))

    async def _later(self, uri: str) -> None:
        await asyncio.sleep(DEBOUNCE)
        self.pending.pop(uri, None)
        self.publish(uri)


def _normal(text: str) -> str:
    from ..syntax.lexer import normalize_source

    return normalize_source(text)


def _fsl(uri: str) -> bool:
    return uri.endswith(".fsl")


def make_server() -> FslServer:
    server = FslServer()

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: FslServer, params: t.DidOpenTextDocumentParams) -> None:
        if _fsl(params.text_document.uri):
            ls.publish(params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: FslServer, params: t.DidChangeTextDocumentParams) -> None:
        if _fsl(params.text_document.uri):
            ls.schedule(params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: FslServer, params: t.DidSaveTextDocumentParams) -> None:
        # a saved fsl.yaml or template changes what every open playbook means
        for uri in [u for u in ls.analyses if _fsl(u)]:
            ls.publish(uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: FslServer, params: t.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.analyses.pop(uri, None)
        ls.chunks.pop(uri, None)
        if (task := ls.pending.pop(uri, None)) is not None:
            task.cancel()

    @server.feature(t.TEXT_DOCUMENT_COMPLETION,
                    t.CompletionOptions(trigger_characters=[".", '"', " ", "(", ","]))
    def on_completion(ls: FslServer, params: t.CompletionParams) -> t.CompletionList:
        a = ls.lines_now(params.text_document.uri)
        items = completion.complete(a, params.position.line, params.position.character)
        return t.CompletionList(is_incomplete=False, items=items)

    @server.feature(t.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: FslServer, params: t.HoverParams) -> t.Hover | None:
        return hover.hover(ls.current(params.text_document.uri), params.position.line, params.position.character)

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls: FslServer, params: t.DefinitionParams) -> list[t.Location]:
        a = ls.current(params.text_document.uri)
        return navigation.definition(a, params.position.line, params.position.character)

    @server.feature(t.TEXT_DOCUMENT_REFERENCES)
    def on_references(ls: FslServer, params: t.ReferenceParams) -> list[t.Location]:
        a = ls.current(params.text_document.uri)
        return navigation.references(a, params.position.line, params.position.character,
                                     params.context.include_declaration)

    @server.feature(t.TEXT_DOCUMENT_PREPARE_RENAME)
    def on_prepare_rename(ls: FslServer, params: t.PrepareRenameParams) -> t.Range | None:
        a = ls.current(params.text_document.uri)
        return navigation.prepare_rename(a, params.position.line, params.position.character)

    @server.feature(t.TEXT_DOCUMENT_RENAME)
    def on_rename(ls: FslServer, params: t.RenameParams) -> t.WorkspaceEdit | None:
        a = ls.current(params.text_document.uri)
        try:
            return navigation.rename(a, params.position.line, params.position.character, params.new_name)
        except navigation.RenameRefused as e:
            raise JsonRpcInvalidParams(str(e)) from e

    @server.feature(t.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(ls: FslServer, params: t.DocumentSymbolParams) -> list[t.DocumentSymbol]:
        return symbols.document_symbols(ls.current(params.text_document.uri).module)

    @server.feature(t.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(ls: FslServer, params: t.DocumentFormattingParams) -> list[t.TextEdit] | None:
        a = ls.current(params.text_document.uri)
        try:
            return formatting.format_document(a)
        except formatting.FormatRefused as e:
            ls.window_show_message(t.ShowMessageParams(type=t.MessageType.Warning, message=str(e)))
            return None

    @server.feature(t.TEXT_DOCUMENT_CODE_ACTION,
                    t.CodeActionOptions(code_action_kinds=[t.CodeActionKind.QuickFix]))
    def on_code_action(ls: FslServer, params: t.CodeActionParams) -> list[t.CodeAction]:
        return actions.quick_fixes(params.text_document.uri, list(params.context.diagnostics))

    return server


def main() -> None:
    make_server().start_io()
