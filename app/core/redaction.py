"""Credentials out of log lines, wherever they hide in one.

Settings hold secrets as SecretStr and vendor credentials are decrypted only inside the clients,
but credentials still travel where a log line can catch them: OAuth 1.0a signs every request to a
plain-HTTP store in its query string (`oauth_consumer_key`, `oauth_signature`, ...), Zoho's
access token rides in `Authorization`, and a vendor's exception message quotes the URL it failed
on. So every event passes through `redact` just before it is rendered:

- a key that names a secret, at any depth of dicts and lists, loses its value (`[redacted]`);
- strings (the message, URLs, exception text, other objects' reprs) lose the value of every
  `name=value` / `name%3Dvalue` pair and `"name": "value"` entry whose name is a secret's, the
  credential after `Bearer`/`Basic`/`Zoho-oauthtoken`, and the password in `scheme://user:pw@`.

A name is a secret's when it is one of `SECRET_NAMES`, starts with `oauth_` or ends with
`_secret`, `_password`, `_token` or `_signature` (case, `-` and spaces aside). `code` is one:
it is OAuth's authorization code; log error codes under another name (`error_code`).
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

REDACTED = "[redacted]"
SECRET_NAMES = frozenset({
    "authorization", "proxy_authorization", "consumer_key", "consumer_secret", "client_secret",
    "refresh_token", "access_token", "api_token", "api_key", "secret_key", "secret", "password",
    "application_password", "code", "token", "signature",
})
_SECRET_SUFFIXES = ("_secret", "_password", "_token", "_signature")
_PLAIN = (str, int, float, bool, type(None))

# name=value in query strings, form bodies, OAuth headers and reprs; also percent-encoded
# (name%3Dvalue%26...), as in a URL quoted inside another URL.
_PAIR = re.compile(r"""(?:(?<=%26)|(?<=%3F)|(?<![\w%.-]))([A-Za-z_][\w.-]*)(=|%3D)("[^"]*"|(?:(?!%26)[^&\s'",;)>\]}])+)""",  # noqa: E501 - one pattern, read whole
                   re.IGNORECASE)
# "name": "value" in JSON and 'name': 'value' in Python reprs.
_ENTRY = re.compile(r"""(["'])([A-Za-z_][\w -]*)\1(\s*:\s*)(["'])((?:\\.|(?!\4).)*)\4""")
_SCHEME = re.compile(r"\b(Bearer|Basic|Zoho-oauthtoken)\s+[\w.~+/=-]+", re.IGNORECASE)
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+@", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return key in SECRET_NAMES or key.startswith("oauth_") or key.endswith(_SECRET_SUFFIXES)


def scrub(text: str) -> str:
    """`text` with every credential it carries replaced by `[redacted]`."""
    # The scheme first: `authorization=Bearer x` must lose `x` too, not only `Bearer`.
    text = _SCHEME.sub(lambda m: f"{m[1]} {REDACTED}", text)
    text = _PAIR.sub(lambda m: m[1] + m[2] + REDACTED if is_secret_name(m[1]) else m[0], text)
    text = _ENTRY.sub(lambda m: m[1] + m[2] + m[1] + m[3] + m[4] + REDACTED + m[4]
                      if is_secret_name(m[2]) else m[0], text)
    return _USERINFO.sub(lambda m: f"{m[1]}{REDACTED}@", text)


def redact_value(value: Any) -> Any:
    """`value` with secrets removed at any depth. Objects that are neither plain values nor
    containers become their scrubbed repr, which is what the JSON renderer would print."""
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and is_secret_name(k) else redact_value(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact_value(v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value if isinstance(value, _PLAIN) else scrub(repr(value))


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """structlog processor: the last one before the renderer, after exceptions are formatted."""
    redacted: dict[str, Any] = redact_value(event_dict)
    return redacted
