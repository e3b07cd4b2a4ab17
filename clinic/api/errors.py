"""One error envelope for every error the API returns:

    {"error": {"code": "invalid", "message": "...", "fields": {"responses.pulse": ["..."]}}}

Validation messages name fields with dotted paths. Unhandled exceptions become a 500 envelope that says
nothing about the internals; the log line carries only the request id and the exception type.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from clinic.errors import DomainError
from clinic.request_context import current_context

logger = logging.getLogger("clinic.api")

_DEFAULT_MESSAGES = {
    400: "The request is not valid.",
    401: "Authentication credentials were not provided or are not valid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "The request conflicts with the current state of the resource.",
    412: "The resource has changed since you last read it.",
    415: "Unsupported media type.",
    429: "Too many requests.",
    500: "An unexpected error occurred.",
}


def envelope(status_code: int, code: str, message: str, fields: dict | None = None, details=None) -> dict:
    body = {"code": code, "message": message, "fields": fields or {}}
    if details is not None:
        body["details"] = details
    return {"error": body}


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"dotted.field": ["message", ...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "non_field_errors" if key in ("non_field_errors", "__all__") and not prefix else key
            path = f"{prefix}.{name}" if prefix else str(name)
            flat.update(flatten_errors(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            flat[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


def _first_message(fields: dict[str, list[str]]) -> str:
    for name, messages in fields.items():
        if messages:
            return messages[0] if name == "non_field_errors" else f"{name}: {messages[0]}"
    return _DEFAULT_MESSAGES[400]


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(
            envelope(exc.status_code, exc.code, exc.message, exc.fields, exc.details), status=exc.status_code
        )
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.error("Unhandled %s (request %s)", type(exc).__name__, current_context().request_id, exc_info=exc)
        return Response(envelope(500, "server_error", _DEFAULT_MESSAGES[500]), status=500)

    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        response.data = envelope(400, "invalid", _first_message(fields), fields)
        return response
    message = exc.detail if isinstance(exc.detail, str) else _DEFAULT_MESSAGES.get(response.status_code, "")
    response.data = envelope(response.status_code, _code_of(exc), str(message))
    return response


def json_handler(status_code: int, code: str):
    """Django-level handlers (unknown URL, crash outside DRF) answer in the same envelope."""

    def handler(request, exception=None):
        return JsonResponse(envelope(status_code, code, _DEFAULT_MESSAGES[status_code]), status=status_code)

    return handler


handler404 = json_handler(status.HTTP_404_NOT_FOUND, "not_found")
handler500 = json_handler(status.HTTP_500_INTERNAL_SERVER_ERROR, "server_error")
