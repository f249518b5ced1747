"""The ceiling: the least work Python can do on the same bytes (plain requests, msgspec in and out).

`python -m bench.ceilings evergage_users BASE_URL PAGE_SIZE` downloads every page a tap would, decodes
it with msgspec, and writes one Singer RECORD line per record with msgspec to stdout (/dev/null when
measured). It prints `records=N` on stderr. Nothing else: no schema, no conformance, no state.
"""

from __future__ import annotations

import sys
import typing as t

import msgspec
import requests

EVERGAGE_AUTH = ("sandbox-api-key-id", "sandbox-api-secret-key-0f6c2b")


def _writer() -> t.Callable[[str, dict[str, t.Any]], None]:
    encode = msgspec.json.Encoder().encode
    out = sys.stdout.buffer

    def write(stream: str, record: dict[str, t.Any]) -> None:
        out.write(encode({"type": "RECORD", "stream": stream, "record": record}))
        out.write(b"\n")

    return write


def evergage_users(base_url: str, page_size: int) -> int:
    """Every page of users.json for the `engage` dataset, as the tap pages it."""
    write = _writer()
    decode = msgspec.json.Decoder().decode
    session = requests.Session()
    count, page = 0, 0
    while True:
        response = session.get(
            f"{base_url}/api/dataset/engage/users.json",
            params={"pageSize": page_size, "page": page}, auth=EVERGAGE_AUTH, timeout=300,
        )
        response.raise_for_status()
        records = decode(response.content)
        for record in records:
            write("users", record)
        count += len(records)
        if len(records) < page_size:
            return count
        page += 1


CEILINGS: dict[str, t.Callable[..., int]] = {"evergage_users": evergage_users}


def main() -> None:
    name, base_url, *rest = sys.argv[1:]
    count = CEILINGS[name](base_url, *(int(v) for v in rest))
    sys.stdout.flush()
    print(f"records={count}", file=sys.stderr)


if __name__ == "__main__":
    main()
