"""Build step the declarative pyproject.toml cannot express: the run-time inputs at the top
of the repository (``conf/``, ``xsd/``, ``wsdl/``, fixed there by the design) are copied into
the wheel as ``gateway/_data/<name>``, where ``gateway.config.data_path`` finds them in an
installed gateway. A checkout (editable install) reads the top-level directories directly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: Read by the server at run time; shipped inside the package.
RUNTIME_DIRS = ("conf", "xsd", "wsdl")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the checkout's own directories are used
        for name in RUNTIME_DIRS:
            source, target = ROOT / name, Path(self.build_lib) / "gateway" / "_data" / name
            if not source.is_dir():  # building from an sdist that lacks them would be broken
                raise SystemExit(f"{source} is missing: cannot build a gateway that runs")
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target)


setup(cmdclass={"build_py": BuildWithData})
