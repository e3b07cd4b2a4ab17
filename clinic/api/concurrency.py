"""ETags on detail responses and If-Match on PUT/PATCH/DELETE, so an offline edit never overwrites a
newer one. The tag is derived from the row's id and `updated_at`, which every service write moves."""

import hashlib

from django.db.models import Model

from clinic.errors import PreconditionFailed


def etag_for(instance: Model) -> str:
    return etag_for_version(f"{instance.pk}:{instance.updated_at.isoformat()}")


def etag_for_version(version: str) -> str:
    """The ETag of a resource whose version is `version` (for resources made of several rows)."""
    return '"' + hashlib.sha256(version.encode()).hexdigest()[:32] + '"'


def if_match_check(header: str | None, instance: Model) -> None:
    """Raise 412 when the client's If-Match does not name the current version. No header: allowed."""
    if_match_check_etag(header, etag_for(instance) if header else "")


def if_match_check_etag(header: str | None, current: str) -> None:
    """if_match_check for a resource whose current ETag the caller computed (etag_for_version)."""
    if not header:
        return
    offered = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" in offered or current in offered:
        return
    raise PreconditionFailed(
        "The record changed since you read it; fetch it again and reapply your change.",
        details={"etag": current},
    )
