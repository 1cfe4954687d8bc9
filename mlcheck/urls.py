"""Source locations written as URLs: which kind they are, and how messages show them.

A URL may carry a password (`postgresql://user:secret@host/db`, often from `${VAR}` already
expanded when the checklist was loaded); every message that shows a URL shows `mask_url(url)`.
"""

from __future__ import annotations

import re

SQLITE_PREFIX = "sqlite:///"
DATABASE_SCHEMES = ("postgresql", "postgres")
# Object stores: `s3` through pyarrow's own S3 client; the others through fsspec (optional extras).
OBJECT_STORE_EXTRAS = {
    "s3": None,
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "http": "http",
    "https": "http",
}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PASSWORD_PARAM = re.compile(r"(?i)([?&]password=)[^&#]*")
MASK = "***"


def scheme(location: str | None) -> str | None:
    """`s3` for `s3://bucket/key`, None for a plain file path (`C:\\data` has no `://`)."""
    match = _SCHEME.match(location or "")
    return match.group(1).lower() if match else None


def is_database_url(url: str | None) -> bool:
    return scheme(url) in DATABASE_SCHEMES


def is_object_store(path: str | None) -> bool:
    return scheme(path) in OBJECT_STORE_EXTRAS


def mask_url(url: str) -> str:
    """The URL with its password (in the user part or a `password=` parameter) replaced by ***."""
    match = _SCHEME.match(url)
    if match is None:
        return url
    start = match.end()
    head = url[start:].split("?", 1)[0].split("#", 1)[0]
    at = head.rfind("@")  # a password may hold an unescaped `@`: the last one ends the user part
    colon = head.find(":", 0, at) if at >= 0 else -1
    if colon >= 0:
        url = f"{url[: start + colon + 1]}{MASK}{url[start + at :]}"
    return _PASSWORD_PARAM.sub(rf"\g<1>{MASK}", url)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` (a driver's message) with every occurrence of a secret replaced by ***."""
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
