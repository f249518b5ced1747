"""Parsers against the real recorded Cordial responses (tests/cordial/fixtures) and export-file layouts."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import jsonschema
import pytest
import requests
from marketing_tapkit.errors import vendor_message
from marketing_tapkit.readers import read_any_records
from tap_cordial.client import is_record_not_found, normalize_value, parse_cordial_time
from tap_cordial.schemas import contacts_schema
from tap_cordial.streams import ContactActivitiesStream, OrdersStream, ProductsStream
from tap_cordial.streams.audience_trends import unpivot
from tap_cordial.streams.contacts import activity_from_export_row, contact_from_export_row

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))
LEFTOVER_CORDIAL_OFFSET = re.compile(r"T\d{2}:\d{2}:\d{2}[+-]\d{4}$")
SCHEMAS = {
    "contacts": contacts_schema([], logging.getLogger("test")),
    "contactactivities": ContactActivitiesStream.schema,
    "orders": OrdersStream.schema,
    "products": ProductsStream.schema,
}


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _response(status: int, body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


def test_fixtures_are_present():
    assert len(FIXTURE_FILES) == 25


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_every_recorded_response_parses(path: Path):
    fixture = json.loads(path.read_text())
    method, status = fixture["request"]["method"], fixture["response"]["status"]
    body = fixture["response"]["body"]
    resource = fixture["request"]["url"].split("/v1/", 1)[1].split("/")[0].split("?")[0]

    if status >= 400:
        message = vendor_message(_response(status, body))
        assert message and message not in {"True", "true"}  # `error: true` is not the message
        assert is_record_not_found(_response(status, body)) == (status == 404 and body.get("error") is True)
        return
    if method != "GET":
        assert isinstance(body, dict)  # write confirmations: the tap never reads these
        return
    records = body if isinstance(body, list) else [body]
    for raw in records:
        record = normalize_value(raw)
        jsonschema.validate(record, SCHEMAS[resource])
        assert not [s for s in _strings(record) if LEFTOVER_CORDIAL_OFFSET.search(s)]


def test_cordial_offsets_without_colon_parse_to_the_right_instant():
    moment = parse_cordial_time("2018-08-07T18:47:35+0000")
    assert moment.isoformat() == "2018-08-07T18:47:35+00:00"
    assert parse_cordial_time("2018-08-07T11:47:35-0700") == moment
    assert normalize_value({"attr": [], "tags": []}) == {"attr": {}, "tags": []}


def test_csv_contact_export_rows_become_api_shaped_contacts():
    csv_text = (
        "_id,channels.email.address,channels.email.subscribeStatus,first_name,loyalty_points,"
        "favorite_categories,createdAt,newsletter,vip\r\n"
        'abc123,a@example.com,subscribed,Ada,42,"[""shoes"",""bags""]",2018-08-07T18:47:35+0000,1,0\r\n'
    )
    types = {"first_name": "string", "loyalty_points": "number", "favorite_categories": "array",
             "createdAt": "date"}
    [(_, row)] = list(read_any_records(io.BytesIO(csv_text.encode()), "test.csv"))
    contact = contact_from_export_row(row, types, ["newsletter", "vip"])

    assert contact == {
        "_id": "abc123",
        "channels": {"email": {"address": "a@example.com", "subscribeStatus": "subscribed"}},
        "first_name": "Ada", "loyalty_points": 42, "favorite_categories": ["shoes", "bags"],
        "createdAt": "2018-08-07T18:47:35+0000", "lists": ["newsletter"],
    }


def test_event_export_rows_with_stored_field_names_become_api_events():
    row = {"_id": "e1", "a": "open", "ats": "2019-07-15T13:54:48+0000", "first": "1", "properties": '{"x":1}'}
    assert activity_from_export_row(row) == {
        "_id": "e1", "action": "open", "time": "2019-07-15T13:54:48+0000", "first": 1, "properties": {"x": 1},
    }


def test_audience_trends_csv_unpivots_wide_and_passes_long_form_through():
    wide = b"Audience Name,2024-05-01,2024-05-02,note\r\nvip,10,,x\r\nvip2,5,7,y\r\n"
    assert list(unpivot(read_any_records(io.BytesIO(wide), "w.csv"), "w.csv")) == [
        {"audience": "vip", "date": "2024-05-01", "count": 10},
        {"audience": "vip2", "date": "2024-05-01", "count": 5},
        {"audience": "vip2", "date": "2024-05-02", "count": 7},
    ]
    long = b"audience,date,count\r\nvip,05/02/2024,\"1,204\"\r\n"
    assert list(unpivot(read_any_records(io.BytesIO(long), "l.csv"), "l.csv")) == [
        {"audience": "vip", "date": "2024-05-02", "count": 1204},
    ]
