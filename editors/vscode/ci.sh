#!/usr/bin/env bash
# The VS Code extension in CI: the pinned tools (package-lock.json), the type
# check and the bundle, the unit tests (which fsl starts; `fsl lsp` answering
# over stdio when this fsl has it), the grammar tests in VS Code's own
# TextMate engine, and the .vsix.  Run from anywhere; needs node >= 20 and npm.
set -euo pipefail
cd "$(dirname "$0")"

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
    echo "editors/vscode: node >= 20 is needed (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
fi

npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
npm run --silent test:unit
npm run --silent test:grammar
# vscode:prepublish bundles again (a second of esbuild): what is packaged is what was just tested
npm run --silent package

# the package holds what VS Code loads: the manifest, the client, the grammars, the configuration;
# and the bundled client needs nothing at run time but `vscode` and node's own modules
NODE_BUILTINS="$(node -p "require('module').builtinModules.join(' ')")" python3 - <<'PY'
import json, os, re, sys, zipfile
names = set(zipfile.ZipFile("fsl.vsix").namelist())
manifest = json.loads(zipfile.ZipFile("fsl.vsix").read("extension/package.json"))
need = {"extension/" + p.removeprefix("./") for p in (
    manifest["main"], manifest["contributes"]["languages"][0]["configuration"],
    *(g["path"] for g in manifest["contributes"]["grammars"]),
    *(s["path"] for s in manifest["contributes"]["snippets"]))}
missing = sorted(need - names)
leaked = sorted(n for n in names if n.startswith(("extension/node_modules/", "extension/src/", "extension/test/")))
bundle = zipfile.ZipFile("fsl.vsix").read("extension/" + manifest["main"].removeprefix("./")).decode()
unbundled = set(re.findall(r'require\("([^"]+)"\)', bundle)) - {"vscode", *os.environ["NODE_BUILTINS"].split()}
if missing or leaked or unbundled:
    sys.exit(f"fsl.vsix: missing {missing}, should not ship {leaked}, left out of the bundle {sorted(unbundled)}")
print(f"fsl.vsix: {len(names)} files, {sum(i.file_size for i in zipfile.ZipFile('fsl.vsix').infolist())} bytes")
PY
