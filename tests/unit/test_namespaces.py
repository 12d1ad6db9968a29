"""Every namespace URI the gateway writes lives in ``gateway/namespaces.py`` (``signing/`` keeps
its own in ``signing/names.py``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_URI = re.compile(r"http://(dom\.gosuslugi\.ru|schemas\.xmlsoap\.org|www\.w3\.org)/")


def test_namespace_uris_are_written_only_in_the_namespaces_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder in ("gateway", "persistence", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != ROOT / "gateway" / "namespaces.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _URI.search(line)
    ]
    assert offenders == []
