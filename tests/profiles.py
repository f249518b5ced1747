"""What the end-to-end and reliability suites need to know about each tap, in one place.

A `TapProfile` says how to point a tap at its emulator (config for the CLI, environment for Meltano),
what the emulator served (rows per warehouse table, counted by primary key), how to change the
emulator between two runs (new rows, a new column), and which request a fault should hit.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t
from dataclasses import dataclass, field

from sandbox.bloomreach import BloomreachEmulator
from sandbox.bloomreach.data import CustomerData
from sandbox.cordial.data import CordialData, object_id
from sandbox.evergage import EvergageEmulator
from sandbox.framework import Emulator, RunningEmulator
from sandbox.sitecore_cdp import SitecoreCDPEmulator
from tests.sitecore_cdp.helpers import expected_keys as sitecore_expected_keys


@dataclass(frozen=True)
class TapProfile:
    vendor: str
    tap: str
    #: Warehouse schema the loaders write to (the extractor's namespace).
    schema: str
    #: Emulator settings for a small, deterministic end-to-end run.
    emulator_settings: dict[str, t.Any]
    #: Tap config pointing at an emulator (for runs of the tap's own CLI).
    config: t.Callable[[str], dict[str, t.Any]]
    #: Rows per table the emulator serves with `settings`, counted by primary key.
    expected_rows: t.Callable[[dict[str, t.Any]], dict[str, int]]
    #: Primary key of each table in `expected_rows`.
    table_keys: dict[str, tuple[str, ...]]
    #: Emulator settings for the second run: more rows, and one new column.
    second_run_settings: dict[str, t.Any]
    #: (table, column) that appears in the second run (schema evolution); flattened if needed.
    new_column: tuple[str, str]
    #: Extra environment for Meltano runs (e.g. flattening to turn a new attribute into a column).
    meltano_env: dict[str, str] = field(default_factory=dict)
    #: Regex of the path of the main data request (faults target it).
    data_path: str = ""
    #: The stream whose records the reliability suite counts.
    main_stream: str = ""
    #: Primary key of a record of `main_stream`, and the keys the emulator serves with given settings.
    record_key: t.Callable[[dict[str, t.Any]], tuple[t.Any, ...]] = lambda r: ()
    expected_keys: t.Callable[[dict[str, t.Any]], set[tuple[t.Any, ...]]] = lambda s: set()
    #: Credentials in `config`, which must never appear in any output.
    secrets: tuple[str, ...] = ()
    #: Config changes that make the credentials wrong, and words the failure must contain.
    wrong_credentials: dict[str, t.Any] = field(default_factory=dict)
    wrong_credentials_says: tuple[str, ...] = ("HTTP 401",)
    #: Words the failure must contain when a record stays malformed on every try.
    malformed_says: tuple[str, ...] = ("not valid JSON",)
    #: A malformed setting, and words the failure must contain (the setting's name).
    bad_setting: dict[str, t.Any] = field(default_factory=dict)
    bad_setting_says: tuple[str, ...] = ()

    #: More environment that depends on the running emulator (e.g. the port of its S3 server).
    emulator_env: t.Callable[[Emulator], dict[str, str]] = lambda emulator: {}

    def env(self, server: RunningEmulator) -> dict[str, str]:
        """Environment that points the Meltano extractor at a running emulator."""
        prefix = self.tap.upper().replace("-", "_")
        return {f"{prefix}_API_URL": server.base_url, **self.meltano_env, **self.emulator_env(server.emulator)}


def _evergage_rows(settings: dict[str, t.Any]) -> dict[str, int]:
    emulator = EvergageEmulator(**settings)
    users = sum(emulator.data.dataset_size(d) for d in emulator.settings["datasets"])
    members = sum(
        sum(emulator.data.is_member(d["name"], segment, i) for i in range(emulator.data.dataset_size(d)))
        for d in emulator.settings["datasets"]
        for segment in emulator.settings["segments"][:2]
    )
    return {"users": users, "segment_members": members}


EVERGAGE = TapProfile(
    vendor="evergage",
    tap="tap-evergage",
    schema="tap_evergage",
    emulator_settings={"scale": 300, "duplicates": [150]},
    config=lambda url: {
        "api_url": url, "api_key_id": "sandbox-api-key-id", "api_secret_key": "sandbox-api-secret-key-0f6c2b",
        "datasets": ["engage", "mobile"], "segments": ["High Value", "Cart Abandoners"], "page_size": 100,
    },
    expected_rows=_evergage_rows,
    table_keys={"users": ("dataset", "name"), "segment_members": ("dataset", "segment", "name")},
    second_run_settings={"scale": 320, "extra_attributes": ["loyaltyId"]},
    new_column=("users", "attributes__loyaltyId"),
    meltano_env={"TAP_EVERGAGE_FLATTENING_ENABLED": "true", "TAP_EVERGAGE_FLATTENING_MAX_DEPTH": "1"},
    data_path=r"/users\.json",
    main_stream="users",
)

def _evergage_keys(settings: dict[str, t.Any]) -> set[tuple[t.Any, ...]]:
    emulator = EvergageEmulator(**settings)
    return {
        (dataset["name"], emulator.data.user(dataset["name"], i)["name"])
        for dataset in emulator.settings["datasets"]
        for i in range(emulator.data.dataset_size(dataset))
    }


EVERGAGE = dataclasses.replace(
    EVERGAGE,
    record_key=lambda r: (r["dataset"], r["name"]),
    expected_keys=_evergage_keys,
    secrets=("sandbox-api-key-id", "sandbox-api-secret-key-0f6c2b"),
    wrong_credentials={"api_secret_key": "wrong-secret-value"},
    wrong_credentials_says=("HTTP 401", "`api_key_id` or `api_secret_key`"),
    bad_setting={"api_url": "http://evergage.example.com"},
    bad_setting_says=("`api_url`", "https://"),
)

CORDIAL_API_KEY = "sandbox-cordial-api-key-3c8f"
CORDIAL_AWS_SECRET = "sandbox-aws-secret-9d41c0e7"


def _cordial_destination(emulator: Emulator) -> dict[str, t.Any]:
    return {
        "type": "s3", "bucket": "cordial-exports", "region": "us-east-1", "path": "e2e",
        "aws_access_key_id": "sandbox-aws-access-key", "aws_secret_access_key": CORDIAL_AWS_SECRET,
        "endpoint_url": emulator.settings["s3_endpoint_url"],
    }


def _cordial_data(settings: dict[str, t.Any]) -> CordialData:
    return CordialData({"seed": 42, "scale": 100, **settings})


def _cordial_rows(settings: dict[str, t.Any]) -> dict[str, int]:
    data = _cordial_data(settings)
    return {
        "contacts": data.count("contacts"),
        "contact_activities": data.count("activities", 3),
        "orders": data.count("orders"),
        "products": data.count("products", 0.5),
    }


CORDIAL = TapProfile(
    vendor="cordial",
    tap="tap-cordial",
    schema="tap_cordial",
    emulator_settings={"scale": 100, "job_schedule_seconds": 0.1, "job_seconds": 0.5},
    config=lambda url: {"api_url": url, "api_key": CORDIAL_API_KEY, "page_size": 50, "job_poll_interval": 0.2},
    expected_rows=_cordial_rows,
    table_keys={
        "contacts": ("_id",), "contact_activities": ("_id",), "orders": ("orderID",), "products": ("productID",),
    },
    second_run_settings={"contacts": 130, "orders": 125, "extra_contact_attributes": [{"key": "loyalty_tier"}]},
    new_column=("contacts", "loyalty_tier"),
    emulator_env=lambda emulator: {
        "TAP_CORDIAL_EXPORT_DESTINATION": json.dumps(_cordial_destination(emulator)),
        "TAP_CORDIAL_JOB_POLL_INTERVAL": "1",
    },
    data_path=r"^/v2/contacts$",
    main_stream="contacts",
    record_key=lambda r: (r["_id"],),
    expected_keys=lambda s: {
        (object_id(42, "contact", i),) for i in range(_cordial_data(s).count("contacts"))
    },
    secrets=(CORDIAL_API_KEY, CORDIAL_AWS_SECRET),
    wrong_credentials={"api_key": "not-the-key"},
    wrong_credentials_says=("HTTP 401", "api_key"),
    bad_setting={"api_url": "http://cordial.example.com"},
    bad_setting_says=("`api_url`", "https://"),
)

BLOOMREACH_SECRET = "sandbox-bloomreach-secret-92ab"


def _bloomreach_customer_key(record: dict[str, t.Any]) -> tuple[t.Any, ...]:
    """The hard id `registered` where a customer has one, else its cookies (soft ids, a list)."""
    return (record["registered"],) if record.get("registered") else ("cookie", *(record.get("cookie") or ()))


def _bloomreach_expected_keys(settings: dict[str, t.Any]) -> set[tuple[t.Any, ...]]:
    data = CustomerData({"seed": 42, **BloomreachEmulator.default_settings, **settings})
    keys = set()
    for index in range(data.size):
        ids, _ = data.customer(index)
        keys.add(_bloomreach_customer_key(ids))
    return keys


def _bloomreach_rows(settings: dict[str, t.Any]) -> dict[str, int]:
    merged = {**BloomreachEmulator.default_settings, **settings}
    return {
        "customers": int(merged["scale"]),
        "catalogs": len(merged["catalogs"]),
        "catalog_items": sum(int(c["size"]) for c in merged["catalogs"]),
    }


BLOOMREACH = TapProfile(
    vendor="bloomreach",
    tap="tap-bloomreach",
    schema="tap_bloomreach",
    emulator_settings={"scale": 400},
    config=lambda url: {
        "api_url": url, "project_token": "sandbox-project-token", "api_key_id": "sandbox-bloomreach-key-id",
        "api_secret": BLOOMREACH_SECRET,
    },
    expected_rows=_bloomreach_rows,
    table_keys={"customers": ("customer_key",), "catalogs": ("id",), "catalog_items": ("catalog_id", "item_id")},
    second_run_settings={"scale": 450, "extra_properties": ["loyalty_tier"]},
    new_column=("customers", "loyalty_tier"),
    data_path=r"/customers/export$",
    main_stream="customers",
    record_key=_bloomreach_customer_key,
    expected_keys=_bloomreach_expected_keys,
    secrets=("sandbox-bloomreach-key-id", BLOOMREACH_SECRET),
    wrong_credentials={"api_secret": "not-the-secret"},
    wrong_credentials_says=("HTTP 403", "api_secret"),  # Bloomreach answers a wrong secret with 403
    malformed_says=("customers export", "does not mark `customers` complete"),
    bad_setting={"api_url": "http://bloomreach.example.com"},
    bad_setting_says=("`api_url`", "https://"),
)

SITECORE_EXPORTS = ("weekly-vip-export", "daily-delta-export")  # meltano.yml's sandbox environment
SITECORE_SECRETS = ("sandbox-client-secret-7d1e", "sandbox-api-token-5b9a")


def _sitecore_record_keys(settings: dict[str, t.Any]) -> set[tuple[t.Any, ...]]:
    return set(sitecore_expected_keys(SitecoreCDPEmulator(**settings), *SITECORE_EXPORTS))


def _sitecore_rows(settings: dict[str, t.Any]) -> dict[str, int]:
    model = SitecoreCDPEmulator(**settings)
    jobs = sum(len(model.jobs_of(model.export_by_ref(name))) for name in SITECORE_EXPORTS)
    return {
        "audience_export_records": len(_sitecore_record_keys(settings)),
        "audience_export_jobs": jobs,
        "guests": int(settings.get("guests") or settings["scale"]),
    }


SITECORE = TapProfile(
    vendor="sitecore-cdp",
    tap="tap-sitecore-cdp",
    schema="tap_sitecore_cdp",
    emulator_settings={"scale": 60, "max_rows_per_file": 25},
    config=lambda url: {
        "api_url": url, "auth_url": f"{url}/oauth/token", "client_id": "sandbox-client-id",
        "client_secret": SITECORE_SECRETS[0], "client_key": "sandbox-client-key", "api_token": SITECORE_SECRETS[1],
        "audience_exports": list(SITECORE_EXPORTS),
    },
    expected_rows=_sitecore_rows,
    table_keys={
        "audience_export_records": ("execution_ref", "file_index", "row_number"),
        "audience_export_jobs": ("executionRef",),
        "guests": ("ref",),
    },
    second_run_settings={"extra_jobs": 1, "extra_columns": ["loyalty_tier"]},
    new_column=("audience_export_records", "data__loyalty_tier"),
    meltano_env={"TAP_SITECORE_CDP_FLATTENING_ENABLED": "true", "TAP_SITECORE_CDP_FLATTENING_MAX_DEPTH": "1"},
    emulator_env=lambda emulator: {"TAP_SITECORE_CDP_AUTH_URL": f"{emulator.base_url}/oauth/token"},
    data_path=r"^/sitecore-cdp-exports/",
    main_stream="audience_export_records",
    record_key=lambda r: (r["execution_ref"], r["file_index"], r["row_number"]),
    expected_keys=_sitecore_record_keys,
    secrets=SITECORE_SECRETS,
    wrong_credentials={"client_secret": "not-the-secret"},
    wrong_credentials_says=("client_secret",),
    malformed_says=("gzip stream is corrupt",),
    bad_setting={"api_url": "http://sitecore.example.com"},
    bad_setting_says=("`api_url`", "https://"),
)

PROFILES: dict[str, TapProfile] = {p.vendor: p for p in (EVERGAGE, CORDIAL, BLOOMREACH, SITECORE)}
