"""The SDK private API that `marketing_tapkit.sdk_private` relies on, checked against the installed SDK.

If an SDK release renames, removes or re-signs one of these, this module fails by name, before any
sync silently loses a bookmark or an ACTIVATE_VERSION. The behavioural tests run a real (tiny) tap of
the kit's classes through the SDK's own sync loop and read its Singer messages.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import inspect
import io
import json
import typing as t

import pytest
import singer_sdk
from marketing_tapkit.messages import BufferedMsgSpecWriter
from marketing_tapkit.sdk_private import PRIVATE_NAMES
from marketing_tapkit.streams import KitRESTStream
from marketing_tapkit.tap import KitTap
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers import _util
from singer_sdk.singerlib import RecordMessage, StateMessage
from singer_sdk.tap_base import CliTestOptionValue

OWNERS: dict[str, t.Any] = {"singer_sdk.Stream": Stream, "singer_sdk.Tap": Tap, "singer_sdk.helpers._util": _util}
INSTANCE_ATTRIBUTES = {"_tap", "_input_schema", "_stream_version"}

SIGNATURES = {
    (Stream, "_write_record_message"): ["self", "record"],
    (Stream, "_process_record"): ["self", "record", "child_context", "partition_context"],
    (Stream, "_write_activate_version_message"): ["self", "full_table_version"],
    (Stream, "_increment_stream_state"): ["self", "latest_record", "context"],
    (Stream, "_write_state_message"): ["self"],
    (Tap, "cb_test"): ["ctx", "param", "value"],
    (Tap, "_validate_config"): ["self", "raise_errors"],
    (Tap, "_handle_termination"): ["self", "signum", "frame"],
}


@pytest.mark.parametrize(("owner", "name"), [(o, n) for o, names in PRIVATE_NAMES.items() for n in names])
def test_every_private_name_exists_in_the_installed_sdk(owner: str, name: str) -> None:
    if name in INSTANCE_ATTRIBUTES:
        stream = _tap().streams["numbers"]
        assert hasattr(stream, name), f"singer-sdk {singer_sdk.__version__}: {owner}.{name} is gone"
    else:
        assert hasattr(OWNERS[owner], name), f"singer-sdk {singer_sdk.__version__}: {owner}.{name} is gone"


@pytest.mark.parametrize(("owner", "name"), list(SIGNATURES))
def test_private_methods_keep_their_signature(owner: type, name: str) -> None:
    parameters = list(inspect.signature(getattr(owner, name)).parameters)
    assert parameters == SIGNATURES[(owner, name)], f"{owner.__name__}.{name} is now {parameters}"


def test_connection_test_option_values_are_known() -> None:
    assert CliTestOptionValue.All.value == "all"


def test_state_manager_keeps_its_flush_flag() -> None:
    stream = _tap().streams["numbers"]
    assert isinstance(stream.state_manager.is_flushed, bool)


# A tiny tap of the kit's classes, synced by the SDK's own loop -------------------------------------


class NumbersStream(KitRESTStream[t.Any]):
    """Records from memory: no HTTP, only the SDK's record, state and version machinery."""

    name = "numbers"
    url_base = "http://localhost"
    path = "/numbers"
    primary_keys = ("n",)
    replication_key = "n"
    is_sorted = True
    cap: t.ClassVar[int | None] = None
    schema = th.PropertiesList(th.Property("n", th.IntegerType), th.Property("text", th.StringType)).to_dict()

    def get_records(self, context: t.Any) -> t.Iterable[dict[str, t.Any]]:
        for n in range(1, 6):
            yield {"n": n, "text": str(n)}
        self.write_state_now()

    def bookmark_record(self, record: dict[str, t.Any], context: t.Any) -> dict[str, t.Any] | None:
        if self.cap is None:
            return record
        return {**record, "n": min(record["n"], self.cap)}


class HeldVersionStream(NumbersStream):
    name = "held"
    replication_key = None
    hold_activate_version = True

    def get_records(self, context: t.Any) -> t.Iterable[dict[str, t.Any]]:
        yield from super().get_records(context)
        self.release_activate_version()


class TinyTap(KitTap):
    name = "tap-tiny"
    config_jsonschema = th.PropertiesList(th.Property("emit_activate_version_messages", th.BooleanType)).to_dict()

    def discover_streams(self) -> list[Stream]:
        return [NumbersStream(self), HeldVersionStream(self)]


def _tap(**kwargs: t.Any) -> TinyTap:
    return TinyTap(config={"emit_activate_version_messages": True}, validate_config=False, **kwargs)


def _sync(tap: TinyTap, capsys: pytest.CaptureFixture[str]) -> list[dict[str, t.Any]]:
    capsys.readouterr()
    with contextlib.redirect_stderr(io.StringIO()):
        tap.sync_all()
        tap.message_writer.flush()  # type: ignore[attr-defined]
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_records_flow_through_the_fast_path(capsys: pytest.CaptureFixture[str]) -> None:
    messages = _sync(_tap(), capsys)
    records = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "numbers"]
    assert records == [{"n": n, "text": str(n)} for n in range(1, 6)]


def test_bookmark_record_decides_the_bookmark(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NumbersStream, "cap", 3)
    messages = _sync(_tap(), capsys)
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert states[-1]["bookmarks"]["numbers"]["replication_key_value"] == 3


def test_write_state_now_emits_state_before_the_stream_ends(capsys: pytest.CaptureFixture[str]) -> None:
    messages = _sync(_tap(), capsys)
    last_record = max(i for i, m in enumerate(messages) if m["type"] == "RECORD" and m["stream"] == "numbers")
    after = messages[last_record + 1]
    assert after["type"] == "STATE"
    assert after["value"]["bookmarks"]["numbers"]["replication_key_value"] == 5


def test_held_activate_version_comes_after_the_last_record(capsys: pytest.CaptureFixture[str]) -> None:
    messages = _sync(_tap(), capsys)
    held = [m for m in messages if m.get("stream") == "held"]
    kinds = [m["type"] for m in held if m["type"] in {"RECORD", "ACTIVATE_VERSION"}]
    assert kinds == ["RECORD"] * 5 + ["ACTIVATE_VERSION"]


# The kit's per-record shortcuts keep the SDK's behaviour -----------------------------------------------


class ParentStream(NumbersStream):
    def get_child_context(self, record: dict[str, t.Any], context: t.Any) -> dict[str, t.Any]:
        return {"n": record["n"]}


class LetterStream(KitRESTStream[t.Any]):
    """A child of `numbers`: one record per parent record, carrying the parent's key."""

    name = "letters"
    url_base = "http://localhost"
    path = "/letters"
    primary_keys = ("n",)
    parent_stream_type = ParentStream
    schema = th.PropertiesList(th.Property("n", th.IntegerType), th.Property("letter", th.StringType)).to_dict()

    def get_records(self, context: t.Any) -> t.Iterable[dict[str, t.Any]]:
        yield {"n": context["n"], "letter": "abcde"[context["n"] - 1]}


class FamilyTap(TinyTap):
    name = "tap-family"

    def discover_streams(self) -> list[Stream]:
        return [ParentStream(self), LetterStream(self)]


def _catalog(tap: KitTap, deselect: tuple[str, str] | None = None) -> dict[str, t.Any]:
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = True
            elif deselect and entry["tap_stream_id"] == deselect[0] and item["breadcrumb"][-1] == deselect[1]:
                item["metadata"]["selected"] = False
    return catalog


def test_a_parent_with_a_child_still_hands_each_record_to_it(capsys: pytest.CaptureFixture[str]) -> None:
    tap = FamilyTap(config={}, validate_config=False)
    messages = _sync(FamilyTap(config={}, validate_config=False, catalog=_catalog(tap)), capsys)
    letters = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "letters"]
    assert letters == [{"n": n, "letter": "abcde"[n - 1]} for n in range(1, 6)]


class GroupedStream(NumbersStream):
    """Partitioned, no children: the SDK adds the partition's keys to records that lack them."""

    name = "grouped"
    replication_key = None
    partitions: t.ClassVar[list[dict[str, t.Any]]] = [{"group": "a"}, {"group": "b"}]  # type: ignore[misc]
    schema = th.PropertiesList(
        th.Property("n", th.IntegerType), th.Property("text", th.StringType), th.Property("group", th.StringType)
    ).to_dict()


class GroupedTap(TinyTap):
    name = "tap-grouped"

    def discover_streams(self) -> list[Stream]:
        return [GroupedStream(self)]


def test_a_partition_s_keys_still_reach_its_records(capsys: pytest.CaptureFixture[str]) -> None:
    messages = _sync(GroupedTap(config={}, validate_config=False), capsys)
    groups = [m["record"]["group"] for m in messages if m["type"] == "RECORD"]
    assert groups == ["a"] * 5 + ["b"] * 5


def test_a_deselected_property_is_left_out_as_the_sdk_does(capsys: pytest.CaptureFixture[str]) -> None:
    catalog = _catalog(_tap(), deselect=("numbers", "text"))
    messages = _sync(_tap(catalog=catalog), capsys)
    records = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "numbers"]
    assert records == [{"n": n} for n in range(1, 6)]


def test_a_full_table_stream_writes_no_bookmark(capsys: pytest.CaptureFixture[str]) -> None:
    messages = _sync(_tap(), capsys)
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert not states[-1]["bookmarks"].get("held"), states[-1]


def test_every_record_carries_when_it_was_extracted(capsys: pytest.CaptureFixture[str]) -> None:
    messages = _sync(_tap(), capsys)
    stamps = [m.get("time_extracted") for m in messages if m["type"] == "RECORD"]
    assert stamps and all(stamps), "a record without time_extracted"


# The buffered writer and a signal in the middle of a write ---------------------------------------------


class InterruptedStdout(io.BytesIO):
    """stdout whose first write is interrupted by a 'signal': `during_write` runs inside it."""

    def __init__(self, during_write: t.Callable[[], None]) -> None:
        super().__init__()
        self.during_write: t.Callable[[], None] | None = during_write

    def write(self, data: t.Any) -> int:
        written = super().write(data)
        if self.during_write is not None:
            during, self.during_write = self.during_write, None
            during()
        return written


def test_a_stop_asked_during_a_flush_waits_for_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = BufferedMsgSpecWriter()
    stops: list[bool] = []

    def signal_arrives() -> None:
        # What the SIGTERM handler does: ask to stop, and the stop writes a STATE.
        stops.append(writer.call_after_write(lambda: writer.write_message(StateMessage(value={"n": 2}))))

    stdout = InterruptedStdout(signal_arrives)
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(stdout))
    for n in (1, 2):
        writer.write_message(RecordMessage(stream="numbers", record={"n": n}))
    writer.flush()
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert stops == [True], "the stop was not deferred while the block was being written"
    assert [m["type"] for m in lines] == ["RECORD", "RECORD", "STATE"], lines
    assert not writer.call_after_write(lambda: None), "no flush is under way: the stop must run at once"


@pytest.mark.parametrize(
    "record",
    [
        {"n": 1, "text": "plain"},
        {"n": 2, "text": 'quotes " and \\ and\nnewlines, unicode é 漢字 🙂', "empty": ""},
        {"nested": {"list": [1, 2.5, None, True], "deep": {"x": []}}, "decimal": decimal.Decimal("1.10")},
        {"when": datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC), "day": datetime.date(2026, 1, 2)},
        {},
    ],
)
@pytest.mark.parametrize("version", [None, 1764583200000])
def test_a_record_line_written_directly_is_the_sdk_s_line(
    record: dict[str, t.Any], version: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    extracted = datetime.datetime(2026, 12, 1, 11, 6, 35, 123456, tzinfo=datetime.UTC)
    out = io.BytesIO()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(out))
    writer = BufferedMsgSpecWriter()
    writer.write_record("my stream", record, version, extracted)
    writer.flush()
    sdk_line = bytes(MsgSpecWriter().format_message(
        RecordMessage(stream="my stream", record=record, version=version, time_extracted=extracted)))
    assert out.getvalue() == sdk_line


class NestedStream(NumbersStream):
    name = "nested"
    replication_key = None
    schema = th.PropertiesList(
        th.Property("n", th.IntegerType), th.Property("inner", th.ObjectType(th.Property("x", th.IntegerType)))
    ).to_dict()

    def get_records(self, context: t.Any) -> t.Iterable[dict[str, t.Any]]:
        yield {"n": 1, "inner": {"x": 2}}


class NestedTap(TinyTap):
    name = "tap-nested"

    def discover_streams(self) -> list[Stream]:
        return [NestedStream(self)]


def test_flattening_still_applies_on_the_direct_record_path(capsys: pytest.CaptureFixture[str]) -> None:
    """The identity stream map is skipped per record only while flattening is off."""
    tap = NestedTap(config={"flattening_enabled": True, "flattening_max_depth": 1}, validate_config=False)
    records = [m["record"] for m in _sync(tap, capsys) if m["type"] == "RECORD"]
    assert records == [{"n": 1, "inner__x": 2}]
    plain = [m["record"] for m in _sync(NestedTap(config={}, validate_config=False), capsys) if m["type"] == "RECORD"]
    assert plain == [{"n": 1, "inner": {"x": 2}}]
