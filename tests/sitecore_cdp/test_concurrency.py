"""Requests in parallel against the emulator: guest pages fetched ahead, one guest scan for two streams,
and the files of an export job downloaded ahead of the parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandbox.sitecore_cdp import SitecoreCDPEmulator, data
from tests.sitecore_cdp.helpers import (
    BASIC,
    FILE_ROUTE,
    GUESTS_ROUTE,
    LISTING_ROUTE,
    RECORDS,
    config_for,
    expected_keys,
    record_keys,
    selected,
    sync,
)
from tests.support import Admin, TapRun


def guest_config(base_url: str, **extra: object) -> dict:
    return {"api_url": base_url, **BASIC, "max_retries": 2, "guest_page_size": 10, **extra}


def guest_refs(count: int) -> list[str]:
    seed = SitecoreCDPEmulator(scale=count).seed
    return [data.ref_for(i, seed, "guest") for i in range(count)]


def guests_read(emulator, catalog, count: int, *faults: dict, concurrency: int = 4) -> tuple[list[str], Admin]:
    """The refs of the guests a run reads from an emulator of `count` guests with `faults`, in order."""
    server = emulator("sitecore-cdp", scale=count)
    admin = Admin(server.base_url)
    if faults:
        admin.faults(*faults)
    run = sync(guest_config(server.base_url, max_concurrent_requests=concurrency), selected(catalog, "guests"))
    return [r["ref"] for r in run.records("guests")], admin


def test_guest_pages_fetched_ahead_arrive_in_list_order_and_stop_at_the_short_page(emulator, catalog) -> None:
    # The first page answers last (held back by latency): its guests still come first.
    refs, admin = guests_read(emulator, catalog, 95, {"kind": "latency", "seconds": 0.6, "path": "^/v2.1/guests$"})
    assert refs == guest_refs(95)
    # Ten pages (the tenth is short) and at most three fetched past it, in flight when it arrived.
    assert 10 <= admin.requests_by_route()[GUESTS_ROUTE] <= 10 + 3


def test_guest_scan_ahead_ends_on_the_empty_page_after_an_exact_multiple(emulator, catalog) -> None:
    refs, _ = guests_read(emulator, catalog, 40, concurrency=8)
    assert refs == guest_refs(40)


def test_guest_page_refused_twice_under_concurrency_is_retried_with_exact_rows(emulator, catalog) -> None:
    refs, admin = guests_read(emulator, catalog, 55, {"kind": "status", "status": 503, "path": "^/v2.1/guests$",
                                                      "times": 2})
    assert refs == guest_refs(55)
    assert admin.pending_faults() == []


def test_guests_and_their_extensions_both_selected_read_the_guest_list_once(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=45)
    admin = Admin(server.base_url)
    config = guest_config(server.base_url, max_concurrent_requests=1)
    alone = {name: sync(config, selected(catalog, name)) for name in ("guests", "guest_data_extensions")}
    pages = admin.requests_by_route()[GUESTS_ROUTE] // 2
    assert pages == 5

    admin.reset()
    both = sync(config, selected(catalog, "guests", "guest_data_extensions"))
    assert admin.requests_by_route() == {GUESTS_ROUTE: pages}, "one scan of the list feeds both streams"
    for name, run in alone.items():
        assert both.records(name) == run.records(name), f"{name}: the same records in the same order"
        assert both.schema(name) == run.schema(name)
        assert both.last_state["bookmarks"][name] == run.last_state["bookmarks"][name]
    assert "reading the guests guest_data_extensions read" in both.stderr


def test_second_stream_of_one_guest_scan_keeps_its_own_bookmark_and_filter(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=30)
    admin = Admin(server.base_url)
    config = guest_config(server.base_url)
    streams = ("guests", "guest_data_extensions")
    first = sync(config, selected(catalog, *streams))
    admin.settings(touched_guests={"7": data.iso_ms(datetime.now(tz=UTC) - timedelta(days=1))})
    second = sync(config, selected(catalog, *streams), first.last_state)
    ref = guest_refs(30)[7]
    # The changed guest, and the one at the (inclusive) bookmark again.
    refs = [r["ref"] for r in second.records("guests")]
    assert ref in refs and len(refs) <= 2
    extensions = {(r["guest_ref"], r["name"]) for r in second.records("guest_data_extensions")}
    assert {(ref, name) for name in data.extension_names(7)} <= extensions
    assert len(extensions) < len(first.records("guest_data_extensions")) / 5, "only the changed guest's, mostly"
    for name in streams:
        assert second.last_state["bookmarks"][name]["replication_key_value"] >= \
            first.last_state["bookmarks"][name]["replication_key_value"]


# Files ahead ------------------------------------------------------------------------------------------

FILES_SETTINGS = {"scale": 1000, "max_rows_per_file": 90,
                  "exports": [{"friendly_id": "weekly-vip-export", "format": "jsonl", "jobs": 2}]}


def export_read(emulator, catalog, *faults: dict) -> tuple[TapRun, Admin]:
    """A run of the records stream with files ahead, after checking it gave every row once."""
    server = emulator("sitecore-cdp", **FILES_SETTINGS)
    admin = Admin(server.base_url)
    admin.faults(*faults)
    run = sync(config_for(server.base_url, audience_exports=["weekly-vip-export"], max_concurrent_requests=4),
               selected(catalog, RECORDS))
    keys = record_keys(run)
    assert len(keys) == len(set(keys)) == 2000
    assert set(keys) == expected_keys(SitecoreCDPEmulator(**FILES_SETTINGS), "weekly-vip-export")
    return run, admin


def test_files_downloaded_ahead_give_every_row_once_in_file_order(emulator, catalog) -> None:
    # The first file answers last: its rows still come first.
    run, admin = export_read(emulator, catalog, {"kind": "latency", "seconds": 0.6, "path": "part-0000", "times": 2})
    keys = record_keys(run)
    assert keys == sorted(keys, key=lambda k: (k[0] != keys[0][0], k[1], k[2])), "jobs, files and rows in order"
    assert admin.requests_by_route()[FILE_ROUTE] == 2 * 12, "each file downloaded once"


def test_file_refused_while_downloaded_ahead_gets_fresh_urls_and_exact_rows(emulator, catalog) -> None:
    run, admin = export_read(emulator, catalog, {"kind": "status", "status": 403, "path": "part-0004", "times": 1})
    assert admin.requests_by_route()[LISTING_ROUTE] == 2 + 1, "one fresh listing after the refusal"
    assert "the presigned URL has expired" in run.stderr


def test_damaged_file_downloaded_ahead_is_fetched_again_with_exact_rows(emulator, catalog) -> None:
    _, admin = export_read(emulator, catalog,
                           {"kind": "corrupt", "path": "part-0006", "after_bytes": 300, "payload": "{oops", "times": 1},
                           {"kind": "drop", "path": "part-0009", "after_bytes": 500, "times": 1})
    assert admin.requests_by_route()[FILE_ROUTE] == 2 * 12 + 2
