"""The documented rules for customer columns: names, types from a sample, conversions, and keys."""

from __future__ import annotations

import hashlib
import json

from tap_bloomreach.customer_schema import CustomerRecordBuilder, discover_schema, field_names
from tap_bloomreach.export_table import ExportColumn

ID, PROP, BARE = "id", "property", None


def test_repeated_names_get_a_type_suffix_or_an_occurrence_number():
    columns = [ExportColumn(ID, "email"), ExportColumn(PROP, "email"), ExportColumn(BARE, "city"),
               ExportColumn(BARE, "city"), ExportColumn(PROP, "customer_key")]
    assert field_names(columns) == ["email", "email__property", "city", "city__2", "customer_key__property"]


def test_sample_types_columns_and_mixed_or_empty_columns_become_text():
    columns = [ExportColumn(BARE, name) for name in ("flag", "count", "amount", "ids", "mixed", "empty", "doc")]
    sample = [[True, 1, 1, ["a"], 1, None, {"k": 1}], [False, 2, 2.5, "b", "x", None, {"k": 2}]]
    properties = discover_schema(columns, sample, "registered")["properties"]
    assert {name: spec["type"] for name, spec in properties.items()} == {
        "customer_key": ["string"], "flag": ["boolean", "null"], "count": ["integer", "null"],
        "amount": ["number", "null"], "ids": ["array", "null"], "mixed": ["string", "null"],
        "empty": ["string", "null"], "doc": ["object", "null"],
    }
    assert properties["ids"]["items"] == {"type": "string"}


def test_values_are_converted_losslessly_and_misfits_become_null_with_a_count():
    columns = [ExportColumn(ID, "registered"), ExportColumn(PROP, "age"), ExportColumn(PROP, "note"),
               ExportColumn(ID, "cookie"), ExportColumn(PROP, "added_later")]
    declared = {
        "customer_key": {"type": ["string"]}, "registered": {"type": ["string", "null"]},
        "age": {"type": ["integer", "null"]}, "note": {"type": ["string", "null"]},
        "cookie": {"type": ["array", "null"], "items": {"type": "string"}},
    }
    builder = CustomerRecordBuilder(columns, declared, "registered")
    assert builder.undeclared == ["added_later"]
    assert builder.build(["u1", 30.0, 12.5, "c1", "x"]) == {
        "customer_key": "u1", "registered": "u1", "age": 30, "note": "12.5", "cookie": ["c1"]}
    assert builder.build(["u2", "unknown", [1, 2], None, None])["age"] is None
    assert builder.mismatch_report() == ["age: 1 value(s) of type str"]


def test_customers_without_the_key_id_are_keyed_by_a_hash_of_their_ids_only():
    columns = [ExportColumn(ID, "registered"), ExportColumn(ID, "cookie"), ExportColumn(PROP, "city")]
    builder = CustomerRecordBuilder(columns, {}, "registered")
    canonical = json.dumps({"cookie": ["a", "b"]}, separators=(",", ":"))
    expected = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert builder.key([None, ["b", "a"], "Brno"]) == expected
    assert builder.key([None, ["a", "b"], "Praha"]) == expected  # properties do not move the key
    assert builder.key(["u7", ["a"], None]) == "u7"


def test_soft_id_as_key_uses_its_smallest_value_and_bare_headers_hash_the_whole_row():
    soft = CustomerRecordBuilder([ExportColumn(ID, "cookie")], {}, "cookie")
    assert soft.key([["zz", "aa"]]) == "aa"
    bare = CustomerRecordBuilder([ExportColumn(BARE, "registered"), ExportColumn(BARE, "city")], {}, "registered")
    assert bare.key([None, "Brno"]) != bare.key([None, "Praha"])
