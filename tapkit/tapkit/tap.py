"""The base class of our taps: fast message writing and secret redaction from the first log line."""

from __future__ import annotations

import typing as t

from singer_sdk import Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter

from tapkit.config import secret_setting_names, secret_values
from tapkit.redaction import SecretRegistry, install_redaction


class KitTap(Tap):
    """A `Tap` that writes Singer messages with msgspec and scrubs secrets from everything it logs."""

    # msgspec serialises RECORD messages several times faster than the stdlib json writer.
    message_writer_class = MsgSpecWriter

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self.secrets = SecretRegistry()
        super().__init__(*args, **kwargs)
        self.secrets.add(*secret_values(self.config, secret_setting_names(self.config_jsonschema)))
        install_redaction(self.secrets)
