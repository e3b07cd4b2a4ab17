from rest_framework.pagination import CursorPagination


class StableCursorPagination(CursorPagination):
    """Cursor pages: stable while rows are inserted, so a mobile client never skips or repeats a row.

    Ordered by creation time then id (uuids break ties between rows created in the same microsecond).
    Each page also carries `sync_position`: the `updated_since` to send on the next sync (clinic.api.sync).
    """

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["sync_position"] = {
            "type": "string",
            "format": "date-time",
            "description": "Send as `updated_since` on the next sync; de-duplicate the overlap by id.",
        }
        return paginated


class DueFirstPagination(StableCursorPagination):
    """Work lists (rounds, follow-ups to do): soonest due first, ties broken by id."""

    ordering = ("due_at", "id")
