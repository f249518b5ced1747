"""The ceiling: the least work Python can do on the same bytes (plain requests, msgspec in and out).

`python -m bench.ceilings evergage_users BASE_URL PAGE_SIZE` downloads every page a tap would, decodes
it with msgspec, and writes one Singer RECORD line per record with msgspec to stdout (/dev/null when
measured). It prints `records=N` on stderr. Nothing else: no schema, no conformance, no state.
"""

from __future__ import annotations

import gzip
import sys
import time
import typing as t
import uuid

import boto3
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


def cordial_contacts_export(base_url: str, poll_interval_ms: int) -> int:
    """The same export job the tap runs (`POST /v2/contactexports` asking for every attribute and list, as
    the tap does), polled, then every file read from S3.

    The job's wait is in both figures, so the ratio compares what each does with the same bytes.
    """
    settings = requests.get(f"{base_url}/_sandbox/settings", timeout=30).json()
    auth = (settings["api_key"], "")
    session = requests.Session()
    attributes = session.get(f"{base_url}/v2/accountcontactattributes", auth=auth, timeout=300).json()
    lists = session.get(f"{base_url}/v2/accountlists", auth=auth, timeout=300).json()
    name = f"ceiling-{uuid.uuid4().hex[:8]}"
    destination = {"type": "s3", "path": "ceiling", "aws_bucket": "cordial-exports", "aws_region": "us-east-1",
                   "aws_access_key_id": "ceiling", "aws_secret_access_key": "ceiling"}
    body = {
        "name": name, "exportType": "json", "showHeader": True, "compress": True, "destination": destination,
        "fields": [*(a["key"] for a in attributes), "createdAt", "lastModified", "listJoinDate"],
        "lists": [item["name"] for item in lists if item.get("name")],
    }
    job = session.post(f"{base_url}/v2/contactexports", json=body, auth=auth, timeout=300)
    job.raise_for_status()
    job_id = job.json().get("_id") or job.json().get("id") or job.json().get("jobId")
    while session.get(f"{base_url}/v2/jobs/{job_id}", auth=auth, timeout=300).json().get("status") != "Done":
        time.sleep(poll_interval_ms / 1000)
    s3 = boto3.client("s3", endpoint_url=settings["s3_endpoint_url"], region_name="us-east-1",
                      aws_access_key_id="ceiling", aws_secret_access_key="ceiling")
    listing = s3.list_objects_v2(Bucket="cordial-exports", Prefix=f"ceiling/{name}")
    write = _writer()
    decode = msgspec.json.Decoder().decode
    count = 0
    for item in sorted(listing.get("Contents", []), key=lambda i: i["Key"]):
        stream = s3.get_object(Bucket="cordial-exports", Key=item["Key"])["Body"]
        with gzip.GzipFile(fileobj=stream) as lines:
            for line in lines:
                if line.strip():
                    write("contacts", decode(line))
                    count += 1
    return count


CEILINGS["cordial_contacts_export"] = cordial_contacts_export


if __name__ == "__main__":
    main()
