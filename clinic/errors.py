"""Domain errors raised by services. The API turns each into the error envelope (clinic.api.errors)."""


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict | None = None, code: str | None = None, details=None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.details = details
        if code:
            self.code = code


class ValidationFailed(DomainError):
    status_code = 400
    code = "invalid"


class NotAllowed(DomainError):
    status_code = 403
    code = "permission_denied"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class PreconditionFailed(DomainError):
    status_code = 412
    code = "precondition_failed"
