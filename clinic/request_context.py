"""Per-request context (request id, client address, user agent) for the response header and audit rows."""

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip_address: str | None
    user_agent: str
    source: str  # "api", "admin", "task", "command"


_current: ContextVar[RequestContext | None] = ContextVar("clinic_request_context", default=None)


def current_context() -> RequestContext:
    return _current.get() or RequestContext(request_id="", ip_address=None, user_agent="", source="system")


def use_context(context: RequestContext):
    """Set the context for code outside a request (tasks, commands); returns the token for `reset_context`."""
    return _current.set(context)


def reset_context(token) -> None:
    _current.reset(token)


class RequestContextMiddleware:
    """Gives every request an id (the client's own if it is well-formed) and echoes it on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        source = "admin" if request.path.startswith("/admin/") else "api"
        token = _current.set(
            RequestContext(
                request_id=request_id,
                ip_address=request.META.get("REMOTE_ADDR") or None,
                user_agent=request.headers.get("User-Agent", "")[:400],
                source=source,
            )
        )
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response
