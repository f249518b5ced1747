"""The emulator framework's contract checks: a vendor's API file refuses requests and responses, amended."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest
import requests
import yaml

from sandbox.framework import Emulator, Request, Response, RunningEmulator, route
from sandbox.framework.contracts import Amendment, Contract, OpenAPIContract, SwaggerContract
from tests.support import Admin

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "Things", "version": "1"},
    "servers": [{"url": "https://api.example.com"}],
    "security": [{"Basic": []}],
    "components": {"securitySchemes": {"Basic": {"type": "http", "scheme": "basic"}},
                   "schemas": {"Thing": {"type": "object", "required": ["id"],
                                         "properties": {"id": {"type": "integer"}}}}},
    "paths": {"/things/{thingId}": {"get": {
        "parameters": [
            {"in": "path", "name": "thingId", "required": True, "schema": {"type": "string"}},
            {"in": "query", "name": "view", "schema": {"type": "string", "enum": ["short", "full"]}},
            {"in": "query", "name": "limit", "schema": {"type": "object"}},  # wrong, as vendors' files are
        ],
        "responses": {"200": {"description": "ok", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Thing"}}}}},
    }}},
}
SWAGGER = {
    "swagger": "2.0",
    "info": {"title": "Things", "version": "1"},
    "basePath": "/",
    "securityDefinitions": {"basic": {"type": "basic"}},
    "definitions": {"Thing": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
                    "Export": {"type": "object", "required": ["name"],
                               "properties": {"name": {"type": "string"}, "lists": {"type": "array",
                                                                                    "items": {"type": "number"}}}}},
    "paths": {
        "/things/{thingId}": {"get": {
            "security": [{"basic": []}],
            "parameters": [{"in": "path", "name": "thingId", "required": True, "type": "string"},
                           {"in": "query", "name": "per_page", "type": "integer", "maximum": 100},
                           {"in": "query", "name": "time[gt]", "type": "string"}],
            "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Thing"}}},
        }},
        "/things/export": {"post": {
            "parameters": [{"in": "body", "name": "body", "required": True,
                            "schema": {"$ref": "#/definitions/Export"}}],
            "responses": {"200": {"description": "ok"}},
        }},
    },
}


class ThingsEmulator(Emulator):
    """Serves `/things/{id}` (its id as an integer, or as text, off the schema) and an export POST."""

    vendor = "things"

    @route("GET", r"/things/(?P<thing_id>[^/]+)")
    def thing(self, request: Request, thing_id: str) -> Response:
        return Response.json({"id": int(thing_id) if thing_id.isdigit() else thing_id})

    @route("POST", r"/things/export")
    def export(self, request: Request) -> Response:
        return Response.json({"jobId": "1"})

    @route("GET", r"/other")
    def other(self, request: Request) -> Response:
        return Response.json({"anything": True, "status": "is fine here"}, status=418)


@pytest.fixture(params=["openapi", "swagger"])
def things(request: pytest.FixtureRequest, tmp_path: Path) -> t.Iterator[RunningEmulator]:
    contract: Contract
    if request.param == "openapi":
        (tmp_path / "things.yaml").write_text(yaml.safe_dump(OPENAPI))
        contract = OpenAPIContract(tmp_path / "things.yaml", amendments=[
            Amendment(("paths", "/things/{thingId}", "get", "parameters", "name=limit", "schema"),
                      {"type": "integer", "maximum": 100}, "typed object by mistake", replace=True),
        ])
    else:
        (tmp_path / "things.json").write_text(json.dumps(SWAGGER))
        contract = SwaggerContract(tmp_path / "things.json")
    emulator_class = type("Things", (ThingsEmulator,), {"contract": contract})
    with RunningEmulator(emulator_class()) as server:
        yield server


def _get(server: RunningEmulator, target: str, *, auth: bool = True) -> list[str]:
    requests.get(f"{server.base_url}{target}", auth=("key", "") if auth else None, timeout=10)
    return [f"{v.phase}: {v.complaint}" for v in server.emulator.take_contract_violations()]


def test_a_request_and_response_the_file_describes_pass(things: RunningEmulator) -> None:
    query = "?view=full&limit=10" if things.emulator.contract.name.endswith(".yaml") else "?per_page=10"
    assert _get(things, f"/things/7{query}") == []


def test_an_unknown_query_parameter_is_refused_naming_the_declared_ones(things: RunningEmulator) -> None:
    [complaint] = _get(things, "/things/7?pageSize=5")
    assert complaint.startswith("request: query parameter 'pageSize' is not one of GET /things/{thingId}'s")


def test_a_parameter_of_the_wrong_type_or_out_of_bounds_is_refused(things: RunningEmulator) -> None:
    name = "limit" if things.emulator.contract.name.endswith(".yaml") else "per_page"
    for value in ("many", "500"):
        [complaint] = _get(things, f"/things/7?{name}={value}")
        assert complaint.startswith("request:") and name in complaint


def test_missing_credentials_are_refused_where_the_file_requires_basic_auth(things: RunningEmulator) -> None:
    [complaint] = _get(things, "/things/7", auth=False)
    assert complaint.startswith("request:") and "asic" in complaint


def test_a_response_body_off_its_schema_is_refused(things: RunningEmulator) -> None:
    [complaint] = _get(things, "/things/seven")
    assert "seven" in complaint and "integer" in complaint


def test_paths_the_file_does_not_describe_and_admin_routes_are_not_checked(things: RunningEmulator) -> None:
    assert _get(things, "/other?whatever=1", auth=False) == []
    assert _get(things, "/_sandbox/requests?x=1", auth=False) == []


def test_a_faulted_request_is_still_checked_and_violations_are_listed_by_the_admin_route(
    things: RunningEmulator,
) -> None:
    admin = Admin(things.base_url)
    admin.faults({"kind": "status", "status": 503, "path": "/things"})
    requests.get(f"{things.base_url}/things/7?nope=1", auth=("key", ""), timeout=10)
    listed = requests.get(f"{things.base_url}/_sandbox/contract", timeout=10).json()
    assert listed["checked"] is True and len(listed["violations"]) == 1
    [violation] = things.emulator.take_contract_violations()
    assert violation.status is None and "'nope'" in violation.complaint  # the 503 was the fault's, not checked


def test_swagger_bodies_are_validated_against_the_files_definitions(tmp_path: Path) -> None:
    (tmp_path / "things.json").write_text(json.dumps(SWAGGER))
    contract = SwaggerContract(tmp_path / "things.json", amendments=[
        Amendment(("definitions", "Export", "properties", "lists", "items"), {"type": ["number", "string"]},
                  "names or ids"),
    ])
    emulator_class = type("Things", (ThingsEmulator,), {"contract": contract})
    with RunningEmulator(emulator_class()) as server:
        requests.post(f"{server.base_url}/things/export", json={"lists": ["vip"]}, timeout=10)
        [violation] = server.emulator.take_contract_violations()
        assert violation.complaint == "body value: 'name' is a required property"
        requests.post(f"{server.base_url}/things/export", json={"name": "x", "lists": ["vip", 3]}, timeout=10)
        assert server.emulator.take_contract_violations() == []


def test_an_amendment_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "things.json").write_text(json.dumps(SWAGGER))
    contract = SwaggerContract(tmp_path / "things.json",
                               amendments=[Amendment(("definitions", "Nothing", "x"), {}, "stale")])
    with pytest.raises(ValueError, match="matches nothing"):
        _ = contract.document


def test_an_emulator_started_without_checks_records_nothing(tmp_path: Path) -> None:
    (tmp_path / "things.json").write_text(json.dumps(SWAGGER))
    emulator_class = type("Things", (ThingsEmulator,), {"contract": SwaggerContract(tmp_path / "things.json")})
    with RunningEmulator(emulator_class(check_contract=False)) as server:
        requests.get(f"{server.base_url}/things/7?nope=1", timeout=10)
        assert server.emulator.take_contract_violations() == []
