"""End to end: `meltano run tap-evergage target-duckdb` against the emulator, then the warehouse is queried."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb

from sandbox.evergage import EvergageEmulator
from tests.support import meltano

SCALE = 1500  # two pages of the default 1000, and the duplicate across their boundary


def test_meltano_run_loads_every_user_once_with_the_later_duplicate_winning(emulator, tmp_path: Path) -> None:
    # User 999 changes mid-export: it is served again after user 1000, on the second page.
    server = emulator("evergage", scale=SCALE, duplicates=[999])
    warehouse = tmp_path / "warehouse.duckdb"
    env = {
        "TAP_EVERGAGE_API_URL": server.base_url,
        "TARGET_DUCKDB_FILEPATH": str(warehouse),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    done = meltano("run", "tap-evergage", "target-duckdb", env=env)
    assert done.returncode == 0, done.stderr[-5000:]

    served = EvergageEmulator(scale=SCALE, duplicates=[999])
    sizes = {d["name"]: served.data.dataset_size(d) for d in served.settings["datasets"]}
    with duckdb.connect(str(warehouse), read_only=True) as db:
        counts = dict(db.sql("select dataset, count(*) from tap_evergage.users group by 1").fetchall())
        assert counts == sizes, "every user of every dataset, each once"
        assert db.sql("select count(*) from (select dataset, name from tap_evergage.users "
                      "group by 1, 2 having count(*) > 1)").fetchone() == (0,)

        changed = served.data.user("engage", 999, updated=True)
        row = db.sql(
            "select totalactions, epoch_ms(lastactivity) from tap_evergage.users "
            "where dataset = 'engage' and name = ?", params=[changed["name"]],
        ).fetchone()
        assert row == (changed["totalActions"], changed["lastActivity"]), "the later copy is current"

        sample = served.data.user("mobile", 7)
        got = db.sql(
            "select displayname, emailaddress, engagementscore, json_extract_string(attributes, '$.tier') "
            "from tap_evergage.users where dataset = 'mobile' and name = ?", params=[sample["name"]],
        ).fetchone()
        assert got == (sample["displayName"], sample["emailAddress"], sample["engagementScore"],
                       sample["attributes"]["tier"])

        members = dict(db.sql("select segment, count(*) from tap_evergage.segment_members "
                              "where dataset = 'engage' group by 1").fetchall())
        for segment in served.settings["segments"][:2]:
            expected = sum(served.data.is_member("engage", segment, i) for i in range(SCALE))
            assert members[segment["name"]] == expected

    # A second run is a full refresh of the profiles (the API has no change filter) and adds nothing twice.
    again = meltano("run", "tap-evergage", "target-duckdb", env=env)
    assert again.returncode == 0, again.stderr[-5000:]
    with duckdb.connect(str(warehouse), read_only=True) as db:
        assert dict(db.sql("select dataset, count(*) from tap_evergage.users group by 1").fetchall()) == sizes
        audit = db.sql("select count(*), count(distinct id) from tap_evergage.audit_events").fetchone()
        assert audit is not None and audit[0] == audit[1] > 0


def test_stream_maps_hash_emails_and_flattening_makes_attribute_columns(emulator, tmp_path: Path) -> None:
    """The SDK's stream maps and flattening, configured through Meltano like a user would."""
    server = emulator("evergage", scale=40, duplicates=[])
    warehouse = tmp_path / "warehouse.duckdb"
    env = {
        "TAP_EVERGAGE_API_URL": server.base_url,
        "TAP_EVERGAGE_STREAM_MAPS": json.dumps({
            "users": {"emailAddress": "md5(record['emailAddress']) if record.get('emailAddress') else None"},
            "segment_members": None,  # drop the stream entirely
        }),
        "TAP_EVERGAGE_FLATTENING_ENABLED": "true",
        "TAP_EVERGAGE_FLATTENING_MAX_DEPTH": "1",
        "TARGET_DUCKDB_FILEPATH": str(warehouse),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    done = meltano("run", "tap-evergage", "target-duckdb", env=env)
    assert done.returncode == 0, done.stderr[-5000:]
    served = EvergageEmulator(scale=40, duplicates=[])
    user = served.data.user("engage", 5)
    with duckdb.connect(str(warehouse), read_only=True) as db:
        row = db.sql(
            "select emailaddress, attributes__tier from tap_evergage.users where dataset = 'engage' and name = ?",
            params=[user["name"]],
        ).fetchone()
        assert row == (hashlib.md5(user["emailAddress"].encode()).hexdigest(), user["attributes"]["tier"])
        tables = {r[0] for r in db.sql("select table_name from information_schema.tables").fetchall()}
        assert "segment_members" not in tables
