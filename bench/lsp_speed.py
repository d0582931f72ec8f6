"""`fsl lsp` latency: from a didChange to its publishDiagnostics, and completion.

Generates one playbook of about 600 lines (bench/playbook_gen.py's steps,
repeated under new names) in a copy of the sequences/ project, then
measures side by side in one run:

- `fsl check FILE` as a whole process (what an editor without the server
  would run on each save), the median of R runs;
- the server, started once (`python -m fsl lsp`) and driven over stdio by a
  real LSP client (pygls): for each of N edits, the time from sending
  didChange (a field typo inserted or removed, then a line cut to a half-typed
  `send email "` and restored) to receiving the
  publishDiagnostics that reflects it; median and p90;
- completion after `contact.` at the end of the file, median and p90.

The targets (issue 17): a median didChange→diagnostics of at most a quarter
of the `fsl check` process, and under 100 ms.

    python bench/lsp_speed.py [--edits 40] [--repeat 5]
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from playbook_gen import model, to_fsl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def write_project(folder: Path, target_lines: int) -> Path:
    shutil.copytree(ROOT / "sequences" / "templates", folder / "templates")
    shutil.copy(ROOT / "sequences" / "fsl.yaml", folder / "fsl.yaml")
    m = model(0, random.Random(7))
    base = list(m["steps"])
    while to_fsl(m).count("\n") < target_lines:
        step = copy.deepcopy(base[len(m["steps"]) % len(base)])
        step["name"] = f"s{len(m['steps'])}"
        step["after"] = step["after"] or "1 day"
        m["steps"].append(step)
    path = folder / "big.fsl"
    path.write_text(to_fsl(m))
    return path


def time_check(path: Path, repeat: int) -> tuple[float, str]:
    runs, out = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "fsl", "check", str(path)], capture_output=True, text=True,
                              cwd=path.parent)
        runs.append(time.perf_counter() - start)
        out = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.stdout.strip()
    return statistics.median(runs), out


def p90(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.9 * len(xs))) - 1)]


async def drive(path: Path, edits: int) -> tuple[list[float], list[float], list[float], int]:
    client = LanguageClient("bench", "1")
    arrived: asyncio.Queue = asyncio.Queue()

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: t.PublishDiagnosticsParams) -> None:
        arrived.put_nowait((time.perf_counter(), params))

    await client.start_io(sys.executable, "-m", "fsl", "lsp")
    await client.initialize_async(t.InitializeParams(capabilities=t.ClientCapabilities()))
    client.initialized(t.InitializedParams())
    uri = path.resolve().as_uri()
    text = path.read_text()
    client.text_document_did_open(t.DidOpenTextDocumentParams(
        text_document=t.TextDocumentItem(uri=uri, language_id="fsl", version=1, text=text)))
    await _until(arrived, uri, lambda p: True)
    lines = text.split("\n")
    target = next(i for i, line in enumerate(lines) if "contact.tier" in line and i > len(lines) // 2)
    col = lines[target].index("contact.tier")
    change_times: list[float] = []
    for k in range(edits):
        typo = k % 2 == 0  # alternate: insert a typo (one more diagnostic), then take it out
        new = "contact.tierr" if typo else "contact.tier"
        old_len = len("contact.tier") if typo else len("contact.tierr")
        rng = t.Range(start=t.Position(line=target, character=col),
                      end=t.Position(line=target, character=col + old_len))
        start = time.perf_counter()
        client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=k + 2),
            content_changes=[t.TextDocumentContentChangePartial(range=rng, text=new)]))
        arrival = await _until(arrived, uri, lambda p, typo=typo: any(
            d.code == "E204" for d in p.diagnostics) == typo)
        change_times.append(arrival - start)
    # a half-typed line (an unterminated string) and back: syntax recovery on the path
    send = next(i for i, line in enumerate(lines) if 'send email "' in line and i > len(lines) // 2)
    full = lines[send]
    cut = full[: full.index('"') + 1]
    half_times: list[float] = []
    for k in range(edits):
        broken = k % 2 == 0
        rng = t.Range(start=t.Position(line=send, character=0),
                      end=t.Position(line=send, character=len(full if broken else cut)))
        start = time.perf_counter()
        client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=edits + k + 2),
            content_changes=[t.TextDocumentContentChangePartial(range=rng, text=cut if broken else full)]))
        arrival = await _until(arrived, uri, lambda p, broken=broken: any(
            d.code == "E103" for d in p.diagnostics) == broken)
        half_times.append(arrival - start)
    completion_times: list[float] = []
    end_line = len(lines) - 1
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2 * edits + 2),
        content_changes=[t.TextDocumentContentChangePartial(
            range=t.Range(start=t.Position(line=end_line, character=0), end=t.Position(line=end_line, character=0)),
            text="        if contact.")]))
    items = 0
    for _ in range(edits):
        start = time.perf_counter()
        result = await client.text_document_completion_async(t.CompletionParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=t.Position(line=end_line, character=19)))
        completion_times.append(time.perf_counter() - start)
        items = len(result.items if isinstance(result, t.CompletionList) else result or [])
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return change_times, half_times, completion_times, items


async def _until(queue: asyncio.Queue, uri: str, holds) -> float:
    while True:
        when, params = await asyncio.wait_for(queue.get(), 60)
        if params.uri == uri and holds(params):
            return when


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--lines", type=int, default=600)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_project(Path(tmp), args.lines)
        n_lines = path.read_text().count("\n")
        check, summary = time_check(path, args.repeat)
        changes, halves, completions, items = asyncio.run(drive(path, args.edits))
    med = statistics.median(changes)
    print(f"playbook: {n_lines} lines (one playbook); fsl check says: {summary}")
    print(f"fsl check, whole process:           median {check * 1000:7.1f} ms  ({args.repeat} runs)")
    print(f"didChange -> publishDiagnostics:    median {med * 1000:7.1f} ms  p90 {p90(changes) * 1000:7.1f} ms"
          f"  ({len(changes)} edits)")
    print(f"  ... a half-typed line and back:   median {statistics.median(halves) * 1000:7.1f} ms"
          f"  p90 {p90(halves) * 1000:7.1f} ms  ({len(halves)} edits; syntax recovery)")
    print(f"completion after `contact.`:        median {statistics.median(completions) * 1000:7.1f} ms"
          f"  p90 {p90(completions) * 1000:7.1f} ms  ({items} items)")
    ratio = med / check
    print(f"ratio didChange median / fsl check: {ratio:.3f}  (target <= 0.25 and median < 100 ms: "
          f"{'met' if ratio <= 0.25 and med < 0.1 else 'NOT met'})")


if __name__ == "__main__":
    main()
