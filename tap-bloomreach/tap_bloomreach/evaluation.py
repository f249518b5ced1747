"""When and in which time zone the customers export and the analyses are evaluated (spec §5.1, §8).

Both `POST customers/export` and `POST analyses/{kind}` take `execution_time`, the moment at which
filters, attributes and analyses are computed (unix seconds; the API's default is now, and the export's
field is an int32), and `timezone`, an IANA name (default UTC) in which that moment's day boundaries and
date-based attributes are read. The settings of the same names fill them in: `execution_time` is sent
only when set, as epoch seconds, and may be given as
- epoch seconds (a number, or text of digits), sent as it is;
- an ISO 8601 date-time with an offset (`2024-06-30T23:59:59+02:00`, `...Z`), an absolute moment;
- an ISO 8601 date-time or date without an offset (`2024-06-30T23:59:59`, `2024-06-30`), read as a
  wall-clock time in the `timezone` setting, which is how the API reads the moment it is given.
"""

from __future__ import annotations

import typing as t
import zoneinfo
from datetime import datetime

from marketing_tapkit.config import config_error

DEFAULT_TIMEZONE = "UTC"
#: `execution_time` is an int32 of unix seconds (spec §5.1): 2038-01-19T03:14:07Z at the latest.
MAX_EXECUTION_TIME = 2**31 - 1
_EXAMPLES = "epoch seconds such as 1719784799, or an ISO date-time such as 2024-06-30T23:59:59+02:00"


def time_zone(config: t.Mapping[str, t.Any]) -> zoneinfo.ZoneInfo:
    """The `timezone` setting as a zone; a config error naming the setting if it is no IANA name."""
    name = config.get("timezone") or DEFAULT_TIMEZONE
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise config_error(
            f"Setting `timezone` must be an IANA time zone such as Europe/Prague, got {name!r}."
        ) from None


def execution_epoch(config: t.Mapping[str, t.Any]) -> int | None:
    """The `execution_time` setting in epoch seconds (None when unset); a config error naming it if invalid."""
    value = config.get("execution_time")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise config_error(f"Setting `execution_time` must be {_EXAMPLES}, got {value!r}.")
    if isinstance(value, int) or value.strip().isdigit():
        seconds = int(value)
    else:
        seconds = _iso_epoch(value.strip(), time_zone(config))
    if not 0 <= seconds <= MAX_EXECUTION_TIME:
        raise config_error(
            f"Setting `execution_time` must lie between 1970-01-01 and 2038-01-19 (the API takes 32-bit unix "
            f"seconds), got {value!r}."
        )
    return seconds


def _iso_epoch(text: str, zone: zoneinfo.ZoneInfo) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise config_error(f"Setting `execution_time` must be {_EXAMPLES}, got {text!r}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)  # a wall-clock time in `timezone`, as the API reads it
    return int(moment.timestamp())


def evaluation_fields(config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """`timezone` (always: the API's default, UTC, made explicit) and `execution_time` when it is set."""
    fields: dict[str, t.Any] = {"timezone": config.get("timezone") or DEFAULT_TIMEZONE}
    if (seconds := execution_epoch(config)) is not None:
        fields["execution_time"] = seconds
    return fields
