"""Checking an emulator's traffic against the vendor's own API description file.

An emulator class may declare `contract = OpenAPIContract(file)` (OpenAPI 3, validated with
openapi-core) or `contract = SwaggerContract(file)` (Swagger 2.0, its parameters and bodies validated
with jsonschema against the file's definitions). The server then checks every request the emulator
receives on a path the file describes (method, path, parameter names, types and enums, body, auth
scheme) and every response it sends there (a status the operation declares, a body of its schema).
What the file refuses is recorded on the emulator as a `Violation` (tests fail on any). Paths the
file does not describe (OAuth, presigned files, `/_sandbox/`, APIs the file leaves out) are not checked.

Where the emulator deviates from the file on purpose (the file contradicts itself, or the vendor's
documented behaviour is wider than the file), the contract takes an `Amendment`: a change to the
loaded document at one place, with its reason. Amendments are the only allowance, so each deviation
is written down once and still validated as amended; `docs/api-contracts.md` lists them.

Each file is read and compiled once per process, on the first request checked.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import typing as t
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import jsonschema
import yaml
from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from referencing import Registry
from referencing.jsonschema import DRAFT4
from werkzeug.datastructures import Headers, ImmutableMultiDict

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sandbox.framework.messages import Request, Response

#: The vendors' files, copied into the repository (see its README for their origin).
CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"

DOCUMENT_URI = "urn:sandbox:contract"


@dataclasses.dataclass(frozen=True)
class Amendment:
    """A deliberate change to the vendor's file: merge `change` at `at`, because `reason`.

    `at` is a sequence of keys from the document's root (`"*"` matches every key at that level; in a
    list, `"name=expand"` picks the objects whose `name` is `expand`);
    a mapping is merged into a mapping key by key, a list extends a list, anything else replaces
    (`replace=True` replaces in every case).
    """

    at: tuple[str, ...]
    change: t.Any
    reason: str
    replace: bool = False  # replace the value at `at` instead of merging into it

    def apply(self, document: dict[str, t.Any]) -> None:
        targets = list(_select(document, self.at[:-1]))
        if not targets:
            raise ValueError(f"amendment at {'/'.join(self.at)} matches nothing in the file")
        for parent in targets:
            keys = list(parent) if self.at[-1] == "*" else [self.at[-1]]
            for key in keys:
                change = copy.deepcopy(self.change)
                parent[key] = change if self.replace else _merged(parent.get(key), change)


def _select(node: t.Any, keys: Sequence[str]) -> Iterator[dict[str, t.Any]]:
    if not keys:
        if isinstance(node, dict):
            yield node
        return
    head, rest = keys[0], keys[1:]
    if isinstance(node, list):  # a list of objects: `*`, or `field=value` (a parameter by its name)
        field, _, value = head.partition("=")
        for item in node:
            if head == "*" or (isinstance(item, dict) and item.get(field) == value):
                yield from _select(item, rest)
    elif isinstance(node, dict):
        for key in list(node) if head == "*" else [head]:
            if key in node:
                yield from _select(node[key], rest)


def _merged(current: t.Any, change: t.Any) -> t.Any:
    if isinstance(current, dict) and isinstance(change, dict):
        return {**current, **{k: _merged(current.get(k), v) for k, v in change.items()}}
    if isinstance(current, list) and isinstance(change, list):
        return current + change
    return change


@dataclasses.dataclass(frozen=True)
class Violation:
    """One thing the vendor's file refuses in a request the emulator received or a response it sent."""

    contract: str  # the file's name
    method: str
    target: str  # path and query string, as received
    phase: str  # "request" or "response"
    complaint: str
    status: int | None = None  # the response's status

    def __str__(self) -> str:
        answered = f" (answered {self.status})" if self.status is not None else ""
        return f"{self.method} {self.target}{answered}: {self.contract} refuses the {self.phase}: {self.complaint}"


@dataclasses.dataclass(frozen=True)
class Operation:
    """The operation of the file a request reaches: its path template, method and path parameters."""

    template: str
    method: str
    path_params: dict[str, str]
    spec: dict[str, t.Any]  # the operation object, or {} when the file has no such method on the path


class Contract:
    """A vendor's API description file and the amendments we make to it; subclasses validate."""

    def __init__(self, file: str | Path, *, amendments: Sequence[Amendment] = ()) -> None:
        self.file = Path(file) if Path(file).is_absolute() else CONTRACTS_DIR / file
        self.amendments = tuple(amendments)

    @property
    def name(self) -> str:
        return self.file.name

    @functools.cached_property
    def document(self) -> dict[str, t.Any]:
        """The file as parsed, with the amendments applied (once per process)."""
        text = self.file.read_text(encoding="utf-8")
        document = t.cast("dict[str, t.Any]", json.loads(text) if self.file.suffix == ".json" else yaml.safe_load(text))
        for amendment in self.amendments:
            amendment.apply(document)
        return document

    @functools.cached_property
    def _templates(self) -> list[tuple[re.Pattern[str], str]]:
        # Literal segments win over parameters (`/v2/contacts/merge` before `/v2/contacts/{primary_key}`).
        paths = sorted(self.document.get("paths", {}), key=lambda p: (p.count("{"), -len(p)))
        prefix = (self.document.get("basePath") or "").rstrip("/")
        compiled = []
        for template in paths:
            pattern = re.sub(r"\\\{([^}/]+)\\\}", lambda m: f"(?P<{_group(m.group(1))}>[^/]+)", re.escape(template))
            compiled.append((re.compile(re.escape(prefix) + pattern), template))
        return compiled

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation `method path` reaches, or None when the file does not describe the path."""
        for pattern, template in self._templates:
            if match := pattern.fullmatch(path):
                params = {_ungroup(k): v for k, v in match.groupdict().items()}
                spec = self.document["paths"][template].get(method.lower(), {})
                return Operation(template, method.upper(), params, spec)
        return None

    def declared_parameters(self, operation: Operation) -> list[dict[str, t.Any]]:
        """The operation's parameters with the path item's, `$ref`s resolved (operation's win)."""
        item = self.document["paths"][operation.template]
        found: dict[tuple[str, str], dict[str, t.Any]] = {}
        for parameter in [*item.get("parameters", []), *operation.spec.get("parameters", [])]:
            resolved = self.resolve(parameter)
            found[(resolved["in"], resolved["name"])] = resolved
        return list(found.values())

    def resolve(self, node: dict[str, t.Any]) -> dict[str, t.Any]:
        """`node`, or what its local `$ref` points at."""
        while "$ref" in node and node["$ref"].startswith("#/"):
            target: t.Any = self.document
            for key in node["$ref"][2:].split("/"):
                target = target[key.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def check(self, request: Request, response: Response | None) -> list[Violation]:
        """What the file refuses in `request` and in `response` (None: a fault answered, not a route)."""
        operation = self.operation(request.method, request.path)
        if operation is None:
            return []
        target = request.path + (f"?{urlencode(request.query, doseq=True)}" if request.query else "")
        status = response.status if response is not None else None
        found = {"request": self.request_complaints(operation, request)}
        if response is not None and operation.spec:
            found["response"] = self.response_complaints(operation, request, response)
        return [Violation(self.name, request.method, target, phase, _summary(complaints), status)
                for phase, complaints in found.items() if complaints]

    def request_complaints(self, operation: Operation, request: Request) -> list[str]:
        if not operation.spec:
            return [f"the file describes no {operation.method} on {operation.template}"]
        declared = {p["name"] for p in self.declared_parameters(operation) if p["in"] == "query"}
        unknown = sorted(set(request.query) - declared)
        complaints = [f"query parameter {name!r} is not one of {operation.method} {operation.template}'s "
                      f"({', '.join(sorted(declared)) or 'none'})" for name in unknown]
        return complaints + self.validate_request(operation, request)

    def validate_request(self, operation: Operation, request: Request) -> list[str]:
        raise NotImplementedError

    def response_complaints(self, operation: Operation, request: Request, response: Response) -> list[str]:
        if not isinstance(response.body, bytes):
            return []  # a streamed body: no path a contract describes streams (files are presigned)
        return self.validate_response(operation, request, response)

    def validate_response(self, operation: Operation, request: Request, response: Response) -> list[str]:
        raise NotImplementedError


def _summary(complaints: list[str], shown: int = 5) -> str:
    more = f" (and {len(complaints) - shown} more)" if len(complaints) > shown else ""
    return "; ".join(complaints[:shown]) + more


def _group(name: str) -> str:
    return "p_" + "".join(c if c.isalnum() else f"_{ord(c):x}_" for c in name)


def _ungroup(group: str) -> str:
    return re.sub(r"_([0-9a-f]+)_", lambda m: chr(int(m.group(1), 16)), group[2:])


def _content_type(headers: t.Mapping[str, str]) -> str:
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


# OpenAPI 3 ------------------------------------------------------------------------------------------


class OpenAPIContract(Contract):
    """An OpenAPI 3 file, validated by openapi-core (requests: parameters, body, security; responses)."""

    @functools.cached_property
    def _openapi(self) -> OpenAPI:
        # The document itself is not checked: vendors' files rarely pass (amendments fix what we rely on).
        return OpenAPI(SchemaPath.from_dict(self.document), config=Config(spec_validator_cls=None))

    @functools.cached_property
    def host_url(self) -> str:
        """The file's first server: requests are validated as that host would receive them."""
        return str(self.document["servers"][0]["url"]).rstrip("/")

    def validate_request(self, operation: Operation, request: Request) -> list[str]:
        try:
            self._openapi.validate_request(_OpenAPIRequest(self.host_url, request))
        except OpenAPIError as error:
            return [_openapi_complaint(error)]
        return []

    def validate_response(self, operation: Operation, request: Request, response: Response) -> list[str]:
        try:
            self._openapi.validate_response(_OpenAPIRequest(self.host_url, request), _OpenAPIResponse(response))
        except OpenAPIError as error:
            return [_openapi_complaint(error)]
        return []


class _OpenAPIRequest:
    """A sandbox `Request` as openapi-core's request protocol sees it."""

    def __init__(self, host_url: str, request: Request) -> None:
        self.host_url = host_url
        self.path = request.path
        self.method = request.method.lower()
        self.body = request.body or None
        self.content_type = (request.headers.get("Content-Type") or "application/json").lower()
        pairs = [(name, value) for name, values in request.query.items() for value in values]
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(pairs), header=Headers(dict(request.headers.items())),
            cookie=ImmutableMultiDict(), path={},
        )


class _OpenAPIResponse:
    """A sandbox `Response` as openapi-core's response protocol sees it."""

    def __init__(self, response: Response) -> None:
        self.status_code = response.status
        self.headers = Headers(response.headers)
        self.content_type = (response.headers.get("Content-Type") or "").lower()
        self.data = response.body if isinstance(response.body, bytes) else None


def _openapi_complaint(error: BaseException) -> str:
    """openapi-core's error and, beneath it, the schema errors that caused it (first line of each)."""
    parts = [str(error)]
    cause = error.__cause__ or error.__context__
    while cause is not None:
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            parts += [f"{'/'.join(map(str, e.absolute_path)) or 'value'}: {e.message}" for e in schema_errors]
        elif str(cause) and not any(str(cause) in part for part in parts):
            parts.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    return "; ".join(parts)


# Swagger 2.0 ----------------------------------------------------------------------------------------


class SwaggerContract(Contract):
    """A Swagger 2.0 file: parameters, bodies and responses validated with jsonschema (draft 4)."""

    @functools.cached_property
    def _registry(self) -> Registry[t.Any]:
        return Registry().with_resource(DOCUMENT_URI, DRAFT4.create_resource(self.document))

    @functools.cached_property
    def _validators(self) -> dict[str, jsonschema.Draft4Validator]:
        return {}  # one compiled validator per schema of the file, made on first use

    def _errors(self, schema: dict[str, t.Any], value: t.Any) -> list[str]:
        """What draft 4 finds wrong in `value` against `schema`, a part of the file (its `$ref`s are the file's)."""
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            validator = jsonschema.Draft4Validator(_anchored(schema), registry=self._registry)
            self._validators[key] = validator
        errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
        return [f"{'/'.join(map(str, e.absolute_path)) or 'value'}: {e.message}" for e in errors]

    def validate_request(self, operation: Operation, request: Request) -> list[str]:
        complaints: list[str] = []
        parameters = self.declared_parameters(operation)
        form = _form_values(request)
        for parameter in parameters:
            where, name = parameter["in"], parameter["name"]
            given: list[str] | None = {
                "query": request.query.get(name),
                "path": [operation.path_params[name]] if name in operation.path_params else None,
                "header": [request.headers[name]] if name in request.headers else None,
                "formData": form.get(name),
            }.get(where)
            if where == "body":
                complaints += self._body_complaints(parameter, request)
            elif given is None:
                if parameter.get("required"):
                    complaints.append(f"required {where} parameter {name!r} is missing")
            else:
                value = _typed(parameter, given)
                complaints += [f"{where} parameter {name!r}: {c}" for c in self._errors(_simple_schema(parameter),
                                                                                           value)]
        requirements = operation.spec.get("security", self.document.get("security")) or []
        schemes = self.document.get("securityDefinitions", {})
        basic = [name for requirement in requirements for name in requirement
                 if schemes.get(name, {}).get("type") == "basic"]
        if basic and len(basic) == len(requirements) and request.basic_auth() is None:
            complaints.append(f"no Basic credentials (the file's security is {basic[0]})")
        return complaints

    def _body_complaints(self, parameter: dict[str, t.Any], request: Request) -> list[str]:
        if not request.body:
            return ["a request body is required"] if parameter.get("required") else []
        if _content_type(request.headers) != "application/json":
            return []  # a form body is checked against formData parameters; the file declares JSON bodies
        try:
            body = json.loads(request.body)
        except ValueError:
            return ["the request body is not JSON"]
        return [f"body {c}" for c in self._errors(parameter.get("schema", {}), body)]

    def validate_response(self, operation: Operation, request: Request, response: Response) -> list[str]:
        responses = operation.spec.get("responses", {})
        declared = responses.get(str(response.status)) or responses.get("default")
        if declared is None:
            return [f"status {response.status} is not one of {operation.method} {operation.template}'s "
                    f"({', '.join(sorted(responses))})"]
        declared = self.resolve(declared)
        if "schema" not in declared:
            return []
        assert isinstance(response.body, bytes)
        try:
            body = json.loads(response.body)
        except ValueError:
            return [f"the {response.status} body is not JSON"]
        return [f"body {c}" for c in self._errors(declared["schema"], body)]


def _anchored(schema: t.Any) -> t.Any:
    """`schema` with its local `$ref`s pointing into the whole file (`#/definitions/X` -> the file's)."""
    if isinstance(schema, dict):
        return {k: DOCUMENT_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#")
                else _anchored(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_anchored(v) for v in schema]
    return schema


def _form_values(request: Request) -> dict[str, list[str]]:
    if _content_type(request.headers) != "application/x-www-form-urlencoded":
        return {}
    return parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)


def _simple_schema(parameter: dict[str, t.Any]) -> dict[str, t.Any]:
    """The JSON Schema of a non-body Swagger parameter (its type, format, enum, bounds, items)."""
    keys = ("type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern",
            "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "items")
    schema = {k: parameter[k] for k in keys if k in parameter}
    if schema.get("type") == "file":
        schema.pop("type")
    return schema


_SEPARATORS = {"csv": ",", "ssv": " ", "tsv": "\t", "pipes": "|"}


def _typed(parameter: dict[str, t.Any], given: list[str]) -> t.Any:
    """The received text as the parameter's declared type (left as text where it does not parse)."""
    kind = parameter.get("type")
    if kind == "array":
        fmt = parameter.get("collectionFormat", "csv")
        values = given if fmt == "multi" else [v for text in given for v in text.split(_SEPARATORS.get(fmt, ","))]
        return [_scalar(parameter.get("items", {}).get("type"), v) for v in values]
    return _scalar(kind, given[0])


def _scalar(kind: str | None, text: str) -> t.Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text
