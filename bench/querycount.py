"""Counts the SQL statements of each request and returns the count in the `X-Bench-Queries` header.

Installed only by bench.settings when BENCH_QUERY_COUNT=1. It wraps the connection's execute (one Python call
per statement), so it costs microseconds per request and works with DEBUG off.
"""

from django.db import connections

HEADER = "X-Bench-Queries"


class QueryCountMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        count = 0

        def counting(execute, sql, params, many, context):
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        connection = connections["default"]
        with connection.execute_wrapper(counting):
            response = self.get_response(request)
        response[HEADER] = str(count)
        return response
