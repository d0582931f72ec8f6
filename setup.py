"""Build hook: the wheel carries the repository's example playbooks.

`sequences/` at the root is the one copy in git (the project's design names it);
`fsl demo` needs it in every install, so the build copies it into the package as
`fsl/demo/sequences`. Everything else about the build is in pyproject.toml.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithSequences(build_py):
    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parent / "sequences"
        if source.is_dir():  # an sdist carries it too (MANIFEST.in)
            shutil.copytree(source, Path(self.build_lib) / "fsl" / "demo" / "sequences", dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithSequences})
