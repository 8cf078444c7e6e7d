"""``s3://bucket/prefix`` URIs, parsed without an S3 SDK (the layers above storage may check one)."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from berth.core.errors import BerthError, ErrorCode

_BUCKET: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def parse_s3_uri(
    uri: str, what: str = "artifact store", code: ErrorCode = ErrorCode.INVALID_REQUEST
) -> tuple[str, str]:
    """The bucket and prefix an ``s3://bucket/prefix`` URI names (`code`, INVALID_REQUEST by default,
    when it is not one); `what` names the store in the message."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or parts.query or parts.fragment:
        raise BerthError(code, f"{what} URI {uri!r} is not s3://bucket[/prefix]")
    bucket = parts.netloc  # as written: a bucket name is lower case, has no port and no user
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise BerthError(code, f"{what} URI {uri!r} names no valid bucket")
    prefix = parts.path.strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise BerthError(code, f"{what} URI {uri!r} has an invalid prefix")
    return bucket, prefix
