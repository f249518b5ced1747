"""The shape every tap shares, kept: the same skeleton, small modules and functions, SDK privates in one place.

A newcomer who learnt one tap finds their way in the next; an SDK upgrade that changes a private name
breaks one kit module (which `test_sdk_private.py` checks), not a sync.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KIT = REPO / "marketing-tapkit" / "marketing_tapkit"
TAPS = sorted(path for path in REPO.glob("tap-*/tap_*") if path.is_dir())
SKELETON = ("__init__.py", "__main__.py", "tap.py", "auth.py", "client.py", "schemas.py")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
SDK_PRIVATE = re.compile(
    r"\._(tap|schema|input_schema|request|oauth_headers|write_state_message|write_activate_version_message|"
    r"increment_stream_state|generate_record_messages|validate_config|stream_version)\b|\bis_flushed\b|"
    r"helpers\._util|\bcb_test\b"
)


def _modules() -> list[Path]:
    return sorted([*KIT.rglob("*.py"), *(module for tap in TAPS for module in tap.rglob("*.py"))])


def test_there_are_four_taps() -> None:
    assert [tap.parent.name for tap in TAPS] == ["tap-bloomreach", "tap-cordial", "tap-evergage", "tap-sitecore-cdp"]


@pytest.mark.parametrize("tap", TAPS, ids=lambda path: path.parent.name)
def test_every_tap_has_the_same_skeleton(tap: Path) -> None:
    missing = [name for name in SKELETON if not (tap / name).is_file()]
    assert not missing, f"{tap.parent.name} lacks {missing}"
    assert (tap / "streams.py").is_file() or (tap / "streams" / "__init__.py").is_file()


@pytest.mark.parametrize("module", _modules(), ids=lambda path: str(path.relative_to(REPO)))
def test_modules_and_functions_stay_small(module: Path) -> None:
    text = module.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{module.name}: over {MAX_MODULE_LINES} lines: split it by domain"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{module.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("module", _modules(), ids=lambda path: str(path.relative_to(REPO)))
def test_sdk_private_names_only_in_the_kit_module_meant_for_them(module: Path) -> None:
    if module == KIT / "sdk_private.py":
        return
    found = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(module.read_text().splitlines(), start=1)
        if SDK_PRIVATE.search(line)
    ]
    assert not found, f"{module.name} uses SDK private API (move it behind a hook in sdk_private.py): {found}"
