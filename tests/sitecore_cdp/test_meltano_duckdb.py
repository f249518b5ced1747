"""End to end: `meltano run tap-sitecore-cdp target-duckdb` in the sandbox environment, then the warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sandbox.sitecore_cdp import SitecoreCDPEmulator, data
from tests.sitecore_cdp.helpers import expected_keys
from tests.support import meltano

pytestmark = pytest.mark.e2e
SETTINGS = {"scale": 60, "max_rows_per_file": 25}


def test_meltano_run_loads_jobs_rows_and_guests_once_and_a_rerun_adds_only_the_new_job(
    emulator, tmp_path: Path
) -> None:
    server = emulator("sitecore-cdp", **SETTINGS)
    warehouse = tmp_path / "warehouse.duckdb"
    env = {
        "TAP_SITECORE_CDP_API_URL": server.base_url,
        "TAP_SITECORE_CDP_AUTH_URL": f"{server.base_url}/oauth/token",
        "TARGET_DUCKDB_FILEPATH": str(warehouse),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    done = meltano("run", "tap-sitecore-cdp", "target-duckdb", env=env)
    assert done.returncode == 0, done.stderr[-5000:]

    model = SitecoreCDPEmulator(**SETTINGS)
    exports = ("weekly-vip-export", "daily-delta-export")  # meltano.yml's sandbox environment
    with duckdb.connect(str(warehouse), read_only=True) as db:
        rows = db.sql("select execution_ref, file_index, row_number from tap_sitecore_cdp.audience_export_records")
        keys = set(rows.fetchall())
        assert keys == expected_keys(model, *exports)
        removed = db.sql("select count(*) from tap_sitecore_cdp.audience_export_records "
                         "where delta_action = 'remove'").fetchone()
        assert removed == (9,), "three delta runs after the first, three guests leaving each"
        email = db.sql("select json_extract_string(data, '$.email') from tap_sitecore_cdp.audience_export_records "
                       "where audience_export = 'weekly-vip-export' and row_number = 1 and file_index = 0 "
                       "limit 1").fetchone()
        assert email == ("guest000000@example.com",)
        assert db.sql("select count(*) from tap_sitecore_cdp.audience_export_jobs").fetchone() == (7,)
        assert db.sql("select count(distinct ref) from tap_sitecore_cdp.guests").fetchone() == (60,)
        extensions = sum(len(data.extension_names(i)) for i in range(60))
        assert db.sql("select count(*) from tap_sitecore_cdp.guest_data_extensions").fetchone() == (extensions,)

    # Meltano keeps the state: the next run reads only the job that appeared since.
    server.emulator.update_settings({"extra_jobs": 1})
    again = meltano("run", "tap-sitecore-cdp", "target-duckdb", env=env)
    assert again.returncode == 0, again.stderr[-5000:]
    newer = SitecoreCDPEmulator(**SETTINGS, extra_jobs=1)
    with duckdb.connect(str(warehouse), read_only=True) as db:
        rows = db.sql("select execution_ref, file_index, row_number from tap_sitecore_cdp.audience_export_records")
        all_rows = rows.fetchall()
        assert len(all_rows) == len(set(all_rows)), "no row loaded twice"
        assert set(all_rows) == expected_keys(newer, *exports)
