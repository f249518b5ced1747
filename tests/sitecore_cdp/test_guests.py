"""Guests, their data extensions and orders: paging, tap-side incremental filters, auth and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandbox.sitecore_cdp import SitecoreCDPEmulator, data
from tests.sitecore_cdp.helpers import BASIC, GUESTS_ROUTE, OAUTH, TAP, config_for, selected, sync
from tests.support import Admin, run_tap

EXTENSION_ROUTES = ("GET /v2.1/guests/(?P<ref>[^/]+)/extensions/(?P<name>[^/]+)",
                    "GET /v2.1/guests/(?P<ref>[^/]+)/extensions")


def guest_config(base_url: str, **extra: object) -> dict:
    return {"api_url": base_url, **BASIC, "max_retries": 2, **extra}


def test_guests_are_paged_by_offset_until_a_short_page(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=25)
    admin = Admin(server.base_url)
    run = sync(guest_config(server.base_url, guest_page_size=10, max_concurrent_requests=1),
               selected(catalog, "guests"))
    refs = [r["ref"] for r in run.records("guests")]
    assert len(refs) == len(set(refs)) == 25
    assert admin.requests_by_route() == {GUESTS_ROUTE: 3}
    assert "dataExtensions" not in run.records("guests")[0], "extensions have their own stream"


def test_exact_multiple_of_the_page_size_ends_on_an_empty_page(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=20)
    admin = Admin(server.base_url)
    run = sync(guest_config(server.base_url, guest_page_size=10, max_concurrent_requests=1),
               selected(catalog, "guests"))
    assert len(run.records("guests")) == 20
    assert admin.requests_by_route() == {GUESTS_ROUTE: 3}


def test_capitalised_paging_links_of_the_official_schema_are_accepted(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=25, link_case="capital")
    run = sync(guest_config(server.base_url, guest_page_size=10), selected(catalog, "guests"))
    assert len(run.records("guests")) == 25


def test_guests_rerun_emits_only_changed_guests(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=30)
    admin = Admin(server.base_url)
    config = guest_config(server.base_url)
    first = sync(config, selected(catalog, "guests"))
    bookmark = first.last_state["bookmarks"]["guests"]["replication_key_value"]
    assert bookmark == max(r["modifiedAt"] for r in first.records("guests"))

    second = sync(config, selected(catalog, "guests"), first.last_state)
    # The bookmark is inclusive (a change in the same millisecond is not lost): only its own guest again.
    assert {r["modifiedAt"] for r in second.records("guests")} <= {bookmark}

    changed = {"4": _iso(days_ago=2), "17": _iso(days_ago=1)}
    admin.settings(touched_guests=changed)
    third = sync(config, selected(catalog, "guests"), second.last_state)
    model = SitecoreCDPEmulator(scale=30)
    expected = {data.ref_for(int(i), model.seed, "guest") for i in changed}
    assert {r["ref"] for r in third.records("guests")} == expected
    assert third.last_state["bookmarks"]["guests"]["replication_key_value"] == changed["17"]


def test_bookmark_never_passes_the_start_of_the_scan_on_the_servers_clock(emulator, catalog) -> None:
    # Guest 9's change carries a time after the scan began (as a change made while pages were being read
    # would): the bookmark stops at the scan's start, so the next run reads the guest again.
    server = emulator("sitecore-cdp", scale=30, touched_guests={"9": _iso(days_ago=-1)})
    config = guest_config(server.base_url)
    first = sync(config, selected(catalog, "guests"))
    bookmark = first.last_state["bookmarks"]["guests"]["replication_key_value"]
    assert _iso(days_ago=0.01) < bookmark < _iso(days_ago=-0.01), "about now, not tomorrow"
    second = sync(config, selected(catalog, "guests"), first.last_state)
    model = SitecoreCDPEmulator(scale=30)
    assert [r["ref"] for r in second.records("guests")] == [data.ref_for(9, model.seed, "guest")]


def _iso(*, days_ago: float) -> str:
    return data.iso_ms(datetime.now(tz=UTC) - timedelta(days=days_ago))


def test_data_extensions_come_from_the_expanded_guests_without_a_request_each(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=30)
    admin = Admin(server.base_url)
    run = sync(guest_config(server.base_url), selected(catalog, "guest_data_extensions"))
    records = run.records("guest_data_extensions")
    expected = sum(len(data.extension_names(i)) for i in range(30))
    keys = {(r["guest_ref"], r["name"]) for r in records}
    assert len(records) == len(keys) == expected
    ext = next(r for r in records if r["name"] == "ext")
    assert set(ext["data"]) == {"loyaltyTier", "vipMember", "rewardBalance"}
    assert ext["key"] == "default"
    assert set(admin.requests_by_route()) == {GUESTS_ROUTE}


def test_extensions_listed_as_links_only_are_fetched(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=12, expand_extensions=False)
    admin = Admin(server.base_url)
    run = sync(guest_config(server.base_url), selected(catalog, "guest_data_extensions"))
    assert len(run.records("guest_data_extensions")) == sum(len(data.extension_names(i)) for i in range(12))
    assert all(r["data"] for r in run.records("guest_data_extensions"))
    assert admin.requests_by_route()[EXTENSION_ROUTES[0]] == len(run.records("guest_data_extensions"))


def test_page_of_guests_without_extensions_does_not_end_the_scan(emulator, catalog) -> None:
    # Guest 0 has no extension, so the first page (of one guest) yields no record: paging goes on.
    server = emulator("sitecore-cdp", scale=6)
    run = sync(guest_config(server.base_url, guest_page_size=1), selected(catalog, "guest_data_extensions"))
    assert len(run.records("guest_data_extensions")) == sum(len(data.extension_names(i)) for i in range(6))


def test_orders_are_off_by_default_and_read_per_guest_when_selected(emulator, catalog) -> None:
    orders = next(s for s in catalog["streams"] if s["tap_stream_id"] == "orders")
    root = next(m for m in orders["metadata"] if m["breadcrumb"] == [])
    assert root["metadata"]["selected-by-default"] is False

    server = emulator("sitecore-cdp", scale=15)
    admin = Admin(server.base_url)
    run = sync(guest_config(server.base_url), selected(catalog, "orders"))
    model = SitecoreCDPEmulator(scale=15)
    assert len(run.records("orders")) == sum(data.order_count(model.seed, i) for i in range(15))
    first = run.records("orders")[0]
    assert first["guest_ref"] and first["orderItems"] and isinstance(first["price"], float)
    assert admin.requests_by_route()["GET /v2.1/orders"] == 15


def test_guest_api_credentials_error_names_the_settings_to_fix(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=5)
    run = sync(guest_config(server.base_url, api_token="wrong-token"), selected(catalog, "guests"),
               expect_success=False)
    assert run.returncode != 0
    assert "HTTP 401" in run.stderr and "UNAUTHORIZED" in run.stderr
    assert "`client_key` and `api_token`" in run.stderr and "Settings > API access" in run.stderr


def test_error_link_under_its_older_name_is_still_shown(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=5, more_info_key="moreInfo")
    run = sync(guest_config(server.base_url, api_token="wrong-token"), selected(catalog, "guests"),
               expect_success=False)
    assert "(see https://support.sitecore.com)" in run.stderr


def test_deep_offset_refused_by_the_api_fails_with_its_message(emulator, catalog) -> None:
    server = emulator("sitecore-cdp", scale=30, max_offset_window=20)
    run = sync(guest_config(server.base_url, guest_page_size=10), selected(catalog, "guests"), expect_success=False)
    assert run.returncode != 0
    assert "Result window is too large" in run.stderr and "HTTP 400" in run.stderr
    # Pages are fetched ahead, but the error is the first refused page's, with how deep the scan got and
    # what to do: no setting narrows a guest scan.
    assert "offset 20 reached" in run.stderr
    assert "No setting of this tap narrows the scan" in run.stderr and "deselect `guests`" in run.stderr


def test_missing_credential_pair_leaves_its_streams_out_of_discovery(emulator) -> None:
    server = emulator("sitecore-cdp", scale=5)
    guests_only = run_tap(TAP, guest_config(server.base_url), extra_args=["--discover"])
    assert guests_only.returncode == 0, guests_only.stderr
    assert "audience_export_jobs" not in guests_only.stdout_text and "guests" in guests_only.stdout_text
    assert "Not offering audience_export_jobs, audience_export_records" in guests_only.stderr

    exports_only = run_tap(TAP, {"api_url": server.base_url, "auth_url": f"{server.base_url}/oauth/token", **OAUTH,
                                 "audience_exports": ["weekly-vip-export"]}, extra_args=["--discover"])
    assert exports_only.returncode == 0, exports_only.stderr
    assert '"tap_stream_id": "guests"' not in exports_only.stdout_text
    assert "Not offering guests, guest_data_extensions, orders" in exports_only.stderr


def test_half_a_credential_pair_is_a_config_error(emulator) -> None:
    server = emulator("sitecore-cdp", scale=5)
    run = run_tap(TAP, {"api_url": server.base_url, "client_key": "sandbox-client-key"}, extra_args=["--discover"])
    assert run.returncode != 0
    assert "`client_key` is set but `api_token` is not" in run.stderr


def test_bad_token_credentials_say_which_one_was_rejected(emulator) -> None:
    server = emulator("sitecore-cdp", scale=5)
    base = config_for(server.base_url)
    for change, expected in (({"client_id": "nobody"}, "the client id was rejected"),
                             ({"client_secret": "wrong-secret"}, "the client secret was rejected")):
        run = run_tap(TAP, {**base, **change}, extra_args=["--discover"])
        assert run.returncode != 0
        assert expected in run.stderr, run.stderr[-2000:]
        assert "wrong-secret" not in run.stderr
    Admin(server.base_url).settings(audience="https://api.example.com")  # the key is enabled for another API
    run = run_tap(TAP, base, extra_args=["--discover"])
    assert "the audience https://api.sitecorecloud.io was rejected" in run.stderr


def test_unknown_audience_export_fails_naming_the_setting(emulator) -> None:
    server = emulator("sitecore-cdp", scale=5)
    run = run_tap(TAP, config_for(server.base_url, audience_exports=["no_such_export"]), extra_args=["--discover"])
    assert run.returncode != 0
    assert "HTTP 404" in run.stderr and "`audience_exports`" in run.stderr
    assert "Audience export definition no_such_export" in run.stderr


def test_plain_http_is_refused_for_a_remote_host() -> None:
    run = run_tap(TAP, {"api_url": "http://api-engage-eu.sitecorecloud.io", **BASIC}, extra_args=["--discover"])
    assert run.returncode != 0 and "plain http://" in run.stderr


def test_unknown_region_is_refused() -> None:
    run = run_tap(TAP, {"region": "mars", **BASIC}, extra_args=["--discover"])
    assert run.returncode != 0 and "region" in run.stderr
