"""`fsl check` throughput against ruamel.yaml reading the same content as YAML.

Generates N playbooks of about 80 lines (every construct), writes them as .fsl
files (one playbook each) and as YAML documents, then measures side by side in
one run: `fsl check` over the folder as a whole process, and ruamel.yaml's
round-trip loader over the YAML files, each the best of R runs.

    python bench/check_speed.py [--playbooks 1000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from playbook_gen import model, to_fsl, to_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def write_project(folder: Path, n: int) -> tuple[int, int]:
    rng = random.Random(7)
    (folder / "fsl").mkdir()
    (folder / "yaml").mkdir()
    shutil.copytree(ROOT / "sequences" / "templates", folder / "fsl" / "templates")
    cfg = (ROOT / "sequences" / "fsl.yaml").read_text()
    (folder / "fsl" / "fsl.yaml").write_text(cfg)
    fsl_lines = yaml_lines = 0
    for i in range(n):
        m = model(i, rng)
        a, b = to_fsl(m), to_yaml(m)
        (folder / "fsl" / f"p{i:04d}.fsl").write_text(a)
        (folder / "yaml" / f"p{i:04d}.yaml").write_text(b)
        fsl_lines += a.count("\n")
        yaml_lines += b.count("\n")
    return fsl_lines, yaml_lines


def time_check(folder: Path) -> tuple[float, int]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fsl", "check", "--format", "json", "--config",
                           str(folder / "fsl" / "fsl.yaml"), str(folder / "fsl")], capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    import json

    diags = json.loads(proc.stdout)["diagnostics"]
    return elapsed, sum(1 for d in diags if d["severity"] == "error")


def time_yaml(folder: Path) -> float:
    code = (
        "import sys, pathlib\nfrom ruamel.yaml import YAML\ny = YAML()\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.yaml')):\n    y.load(p.read_text())\n"
    )
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(folder / "yaml")], check=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--playbooks", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fsl_lines, yaml_lines = write_project(folder, a.playbooks)
        checks, yamls, errors = [], [], 0
        for _ in range(a.repeat):
            c, errors = time_check(folder)
            checks.append(c)
            yamls.append(time_yaml(folder))
        c, y = min(checks), min(yamls)
        print(f"playbooks: {a.playbooks}  fsl lines: {fsl_lines}  yaml lines: {yaml_lines}  check errors: {errors}")
        print(f"fsl check (whole process):   {c:7.2f} s  {fsl_lines / c:9.0f} lines/s")
        print(f"ruamel.yaml round-trip load: {y:7.2f} s  {yaml_lines / y:9.0f} lines/s")
        print(f"ratio check/yaml time: {c / y:.3f}  (target <= 0.15)")


if __name__ == "__main__":
    main()
