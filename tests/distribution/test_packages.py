"""The built packages as a user meets them: metadata an index accepts, and taps that install and run anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import marketing_tapkit
import pytest

from tests.distribution.support import KIT, PACKAGES, TAP_PROFILES, rows_by_key, wheel
from tests.support import VENV_BIN, run_tap

pytestmark = pytest.mark.e2e


def test_every_package_has_one_wheel_and_one_sdist_that_pass_twine_check_and_ship_the_license(
    built_dist: Path,
) -> None:
    built = sorted([*built_dist.glob("*.whl"), *built_dist.glob("*.tar.gz")])
    assert len(built) == 2 * len(PACKAGES), [path.name for path in built]
    done = subprocess.run(
        [str(VENV_BIN / "twine"), "check", "--strict", *map(str, built)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for package in PACKAGES:
        with zipfile.ZipFile(wheel(built_dist, package)) as archive:
            names = archive.namelist()
            metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
            assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), package
        assert "License-Expression: Apache-2.0" in metadata, package
        assert "Description-Content-Type: text/markdown" in metadata, package
        (sdist,) = built_dist.glob(f"{package.replace('-', '_')}-*.tar.gz")
        with tarfile.open(sdist) as archive:
            assert any(n.endswith("/LICENSE") for n in archive.getnames()), package


@pytest.fixture(scope="session")
def user_venv(built_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv outside the workspace with the four taps installed from the built wheels.

    pip reaches the package index as a user's would. The taps are installed from their wheel files; the kit
    comes as their dependency (`marketing-tapkit~=0.1.0`), found through `--find-links`, and every other
    dependency is resolved from the index.
    """
    venv = tmp_path_factory.mktemp("user-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    taps = [str(wheel(built_dist, name)) for name in PACKAGES if name != KIT]  # the kit comes as their dependency
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--find-links", str(built_dist), *taps],
        capture_output=True, text=True, check=False, timeout=900, cwd=venv,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    return venv / "bin"


def test_taps_installed_from_the_wheels_bring_our_kit_and_sync_the_sandbox(user_venv: Path, emulator) -> None:
    installed = json.loads(subprocess.run(
        [str(user_venv / "python"), "-c",
         "import importlib.metadata as m, json, marketing_tapkit;"
         "print(json.dumps({'names': sorted(d.metadata['Name'] for d in m.distributions()),"
         " 'kit': marketing_tapkit.__file__, 'version': m.version('marketing-tapkit')}))"],
        capture_output=True, text=True, check=True, cwd=user_venv,
    ).stdout)
    assert KIT in installed["names"]
    assert installed["version"] == marketing_tapkit.__version__, "the kit did not come from the built wheel"
    assert "tapkit" not in installed["names"], "the unrelated PyPI project `tapkit` was installed"
    assert installed["kit"].startswith(str(user_venv.parent)), "the kit was imported from outside the venv"

    for tap, profile in sorted(TAP_PROFILES.items()):
        about = subprocess.run(
            [str(user_venv / tap), "--about", "--format=json"], capture_output=True, text=True, check=False,
        )
        assert about.returncode == 0, about.stderr
        assert json.loads(about.stdout)["name"] == tap

        server = emulator(profile.vendor, **profile.emulator_settings)
        run = run_tap(str(user_venv / tap), profile.config(server.base_url))
        assert run.returncode == 0, f"{tap}: {run.stderr[-5000:]}"
        assert rows_by_key(profile, run.records) == profile.expected_rows(profile.emulator_settings), tap
        server.stop()
