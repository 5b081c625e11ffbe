"""Scrub secrets from text before it reaches a log, an exception, an artifact or the warehouse.

Shared by blocks (which may not import tasks) and tasks: every message built from a library
exception that might echo a connection string, a SAS URL or a signed request goes through
`redact()` first.
"""

from __future__ import annotations

import re

MASK = "***"

# key=value secrets in connection strings and URLs (AccountKey=…;  sig=…&  password=…).
_KEY_VALUE = re.compile(
    r"(?i)\b(AccountKey|SharedAccessSignature|SharedAccessKey|sig|client_secret|password|pwd)"
    r"(\s*[=:]\s*)([^;&\s'\"]+)"
)
# `Authorization: SharedKey account:signature` and `Bearer <token>` as echoed in request dumps.
_AUTH_HEADER = re.compile(r"(?i)\b(SharedKey(?:Lite)?\s+[^:\s]+:|Bearer\s+)([^\s'\",;]+)")
# user:password@ in URLs (mysql://user:pw@host).
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)([^@\s]+)(@)", re.IGNORECASE)
# Quoted SQL properties, as in StarRocks' FILES("azure.blob.shared_key" = "…") and their sas_token/secret kin.
_QUOTED_PROPERTY = re.compile(
    r"""(?i)(["'][\w.]*(?:shared_key|sas_token|secret_key|secret|password)["']\s*=\s*["'])([^"']*)(["'])"""
)
# Azure's AuthenticationFailed detail quotes the request's MAC signature.
_MAC = re.compile(r"(?i)(signature found in the HTTP request ')([^']*)(')")


def redact(text: object) -> str:
    """`text` as a string with every credential-looking value replaced by ***."""
    out = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", str(text))
    out = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{MASK}", out)
    out = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", out)
    out = _QUOTED_PROPERTY.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", out)
    return _MAC.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", out)


def without_url_password(text: str) -> str:
    """`scheme://user:password@host` -> `scheme://user@host` (a URL still usable with the password from the env)."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)[:-1]}{m.group(3)}", text)
