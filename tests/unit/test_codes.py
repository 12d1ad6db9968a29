"""One place for error codes: ``gateway.codes.Code`` against the README and the code base."""

from __future__ import annotations

import re
from pathlib import Path

from gateway import codes, errors
from gateway.codes import Code

ROOT = Path(__file__).resolve().parents[2]
_CODE = re.compile(r"\b[A-Z]{3}\d{6}\b")


def _readme_table() -> dict[str, str]:
    """The README's error-code rows (code ► meaning), between the generated-table markers."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert codes.BEGIN in text and codes.END in text, "README.md lost its error-code markers"
    section = text[text.index(codes.BEGIN) : text.index(codes.END)]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and _CODE.fullmatch(cells[0]):
            assert cells[0] not in rows, f"{cells[0]} twice in the README"
            rows[cells[0]] = cells[1]
    return rows


def test_the_readme_lists_every_code_with_its_meaning_and_no_other() -> None:
    readme = _readme_table()
    enum = {code.value: code.meaning for code in Code}
    missing, extra = enum.keys() - readme.keys(), readme.keys() - enum.keys()
    assert not missing, f"in gateway/codes.py, not in README.md: {sorted(missing)}"
    assert not extra, f"in README.md, not in gateway/codes.py: {sorted(extra)}"
    differ = {c: (readme[c], enum[c]) for c in enum if readme[c] != enum[c]}
    assert not differ, f"meanings differ (README, enum): {differ}"
    # and the generator writes what is there (row order, header, markers)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert codes.replace_table(text) == text, "run: python -m gateway.codes --write README.md"


def test_every_code_has_a_one_line_meaning_and_a_wire_shape() -> None:
    for code in Code:
        assert _CODE.fullmatch(code.value), code
        assert code.meaning and "\n" not in code.meaning and "|" not in code.meaning, code
    assert len({code.value for code in Code}) == len(Code.__members__), "a code twice"
    assert Code("INT002000") is Code.NOT_FOUND and Code.NOT_FOUND == "INT002000"


def test_no_code_is_written_as_a_literal_outside_the_codes_module() -> None:
    """gateway/ and persistence/ take every code from ``Code`` (comments and docstrings that
    name a code are fine: only string literals count)."""
    literal = re.compile(r"""["'][A-Z]{3}\d{6}["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder in ("gateway", "persistence")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != ROOT / "gateway" / "codes.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []


def test_every_fault_class_carries_a_code_of_the_enum() -> None:
    def subclasses(cls: type[errors.GatewayError]) -> list[type[errors.GatewayError]]:
        return [cls] + [s for sub in cls.__subclasses__() for s in subclasses(sub)]

    for cls in subclasses(errors.GatewayError):
        assert isinstance(cls.code, Code), cls
