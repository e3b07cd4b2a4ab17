"""ETags on detail responses and If-Match on PUT/PATCH/DELETE, so an offline edit never overwrites a
newer one. The tag is derived from the row's id and `updated_at`, which every service write moves."""

import hashlib

from django.db.models import Model

from clinic.errors import PreconditionFailed


def etag_for(instance: Model) -> str:
    version = f"{instance.pk}:{instance.updated_at.isoformat()}".encode()
    return '"' + hashlib.sha256(version).hexdigest()[:32] + '"'


def if_match_check(header: str | None, instance: Model) -> None:
    """Raise 412 when the client's If-Match does not name the current version. No header: allowed."""
    if not header:
        return
    current = etag_for(instance)
    offered = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" in offered or current in offered:
        return
    raise PreconditionFailed(
        "The record changed since you read it; fetch it again and reapply your change.",
        details={"etag": current},
    )
