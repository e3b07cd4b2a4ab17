from rest_framework.pagination import CursorPagination


class StableCursorPagination(CursorPagination):
    """Cursor pages: stable while rows are inserted, so a mobile client never skips or repeats a row.

    Ordered by creation time then id (uuids break ties between rows created in the same microsecond).
    """

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
