"""Cordial's authentication: HTTP Basic with the API key as the user name and an empty password.

Spec cordial.md §2 (S1, Swagger `basicAuth`, recorded traffic). Cordial checks the calling address
against the key's IP allow-list as well, and answers 401 to both a wrong key and a wrong address.
"""

from __future__ import annotations

from singer_sdk.authenticators import BasicAuthenticator


def cordial_authenticator(api_key: str) -> BasicAuthenticator:
    """The authenticator of every Cordial request: `Authorization: Basic base64("<api_key>:")`."""
    return BasicAuthenticator(username=api_key, password="")
