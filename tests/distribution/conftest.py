"""One build of the five packages per test session, as a user would get them from an index."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import REPO, VENV_BIN


@pytest.fixture(scope="session")
def built_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels and sdists of the kit and the four taps (`uv build --all-packages`, as `make dist`)."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [str(VENV_BIN / "uv"), "build", "--all-packages", "--out-dir", str(out)],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    return out
