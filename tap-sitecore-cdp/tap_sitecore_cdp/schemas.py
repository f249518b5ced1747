"""The streams' JSON schemas, and the schema of export rows learnt from a sample of them."""

from __future__ import annotations

import typing as t

from marketing_tapkit.schemas import json_type
from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from collections.abc import Iterable

DateTime = th.DateTimeType
OpenObject = th.ObjectType(additional_properties=True)


JOB_PROPERTIES = th.PropertiesList(
    th.Property("audience_export", th.StringType, required=True, description="The export as configured."),
    th.Property("executionRef", th.StringType, required=True, description="UUID of the job."),
    th.Property("definitionRef", th.StringType, description="UUID of the audience export."),
    th.Property("friendlyId", th.StringType),
    th.Property("clientKey", th.StringType),
    th.Property("executionType", th.StringType, description="INSTANT_RUN or SCHEDULED."),
    th.Property("definitionType", th.StringType, description="FULL_SYNC or DELTA."),
    th.Property("status", th.StringType, description="SUCCESS, FAILED, ALERT (or PENDING_*)."),
    th.Property("segmentExecutionType", th.StringType),
    *(th.Property(name, th.IntegerType) for name in (
        "total", "filterMatchedGuests", "filterNotMatchedGuests", "filterFailures", "successes", "failures",
        "successAdd", "successRemove",
    )),
    th.Property("programmableErrors", th.ArrayType(OpenObject)),
    th.Property("filterErrors", th.ArrayType(OpenObject)),
    th.Property("errorLogs", th.ArrayType(th.StringType)),
    th.Property("datasetDate", th.StringType, description="The day of the data snapshot (format unconfirmed)."),
    th.Property("startTime", DateTime),
    th.Property("endTime", DateTime, required=True),
)


RECORD_PROPERTIES = th.PropertiesList(
    th.Property("audience_export", th.StringType, required=True, description="The export as configured."),
    th.Property("execution_ref", th.StringType, required=True, description="The job (executionRef)."),
    th.Property("definition_type", th.StringType, description="FULL_SYNC or DELTA."),
    th.Property("dataset_date", th.StringType, description="The job's datasetDate."),
    th.Property("job_end_time", DateTime, required=True, description="When the job finished."),
    th.Property("file_index", th.IntegerType, required=True, description="0-based, in listing order."),
    th.Property("row_number", th.IntegerType, required=True, description="1-based row of the file."),
    th.Property("delta_action", th.StringType,
                description="DELTA exports: add or remove (the row joined or left the audience)."),
    th.Property("data", OpenObject, description="The row, with the keys the export defines."),
)


def record_schema(data_properties: dict[str, t.Any]) -> dict[str, t.Any]:
    """The schema of export rows: the envelope, and `data` with the keys learnt, open to others."""
    schema = RECORD_PROPERTIES.to_dict()
    schema["properties"]["data"] = {
        "type": ["object", "null"], "properties": data_properties, "additionalProperties": True,
        "description": "The row, with the keys the export defines.",
    }
    return schema


GUEST_PROPERTIES = th.PropertiesList(
    th.Property("ref", th.StringType, required=True, description="The guest reference (UUID)."),
    th.Property("href", th.StringType),
    th.Property("guestType", th.StringType, description="visitor, customer, traveller (or retired)."),
    *(th.Property(name, th.StringType) for name in (
        "firstName", "lastName", "title", "gender", "email", "passportNumber", "city", "state", "postCode",
        "zipCode", "country", "nationality", "language", "identityStatus",
    )),
    *(th.Property(name, th.ArrayType(th.StringType)) for name in ("emails", "phoneNumbers", "street")),
    *(th.Property(name, DateTime) for name in (
        "dateOfBirth", "passportExpiry", "firstSeen", "lastSeen", "createdAt",
    )),
    th.Property("modifiedAt", DateTime, required=True),
    th.Property("identifiers", th.ArrayType(th.ObjectType(
        th.Property("provider", th.StringType), th.Property("id", th.StringType),
        th.Property("expiryDate", DateTime), additional_properties=True,
    ))),
    th.Property("subscriptions", th.ArrayType(OpenObject)),
)


EXTENSION_PROPERTIES = th.PropertiesList(
    th.Property("guest_ref", th.StringType, required=True),
    th.Property("name", th.StringType, required=True, description="ext, ext1 ... ext5."),
    th.Property("ref", th.StringType, description="The extension's own reference."),
    th.Property("key", th.StringType, description="Always `default`."),
    th.Property("href", th.StringType),
    th.Property("createdAt", DateTime),
    th.Property("modifiedAt", DateTime, required=True),
    th.Property("data", OpenObject, description="The tenant's custom keys and their values."),
)


ORDER_PROPERTIES = th.PropertiesList(
    th.Property("ref", th.StringType, required=True),
    th.Property("guest_ref", th.StringType, required=True, description="The guest the order was listed for."),
    th.Property("href", th.StringType),
    th.Property("referenceId", th.StringType),
    th.Property("createdAt", DateTime),
    th.Property("modifiedAt", DateTime),
    th.Property("orderedAt", DateTime),
    th.Property("currencyCode", th.StringType),
    th.Property("price", th.NumberType),
    *(th.Property(name, th.StringType) for name in ("paymentType", "pointOfSale", "channel", "status")),
    th.Property("orderItems", th.ArrayType(OpenObject)),
    *(th.Property(name, th.CustomType({"type": ["array", "object", "null"]})) for name in ("contacts", "consumers")),
    th.Property("guest", OpenObject),
)


def infer_properties(rows: Iterable[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """JSON Schema properties for the keys of `rows`, each nullable (a later row may lack it)."""
    seen: dict[str, set[str]] = {}
    for row in rows:
        for key, value in row.items():
            seen.setdefault(key, set()).add(json_type(value))
    properties: dict[str, dict[str, t.Any]] = {}
    for key, found in seen.items():
        types = found - {"null"}
        if types == {"integer", "number"}:
            types = {"number"}
        if len(types) > 1 and types <= {"string", "integer", "number", "boolean"}:
            # Scalars typed differently by two exports (a CSV export gives text, a JSON Lines one numbers):
            # text holds them all, and typed targets (which validate records) accept it.
            types = {"string"}
        if len(types) != 1:  # mixed with objects or arrays, or only nulls: any JSON value
            properties[key] = {}
            continue
        kind = types.pop()
        schema: dict[str, t.Any] = {"type": [kind, "null"]}
        if kind == "object":
            schema["additionalProperties"] = True
        elif kind == "array":
            schema["items"] = {}
        properties[key] = schema
    return properties
