"""OpenAPI post-processing shared by every endpoint: local times, the error envelope on every operation,
and role-dependent bodies."""

LOCAL_TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"
ENVELOPE = "ErrorEnvelope"
ENVELOPE_REF = {"$ref": f"#/components/schemas/{ENVELOPE}"}

# What each status means here, and when an operation can answer with it (see clinic/api/errors.py).
ERRORS = {
    400: "The request is not valid: `error.fields` names each field (dotted paths) with its messages.",
    401: "No valid access token.",
    403: "Your role may not do this.",
    404: "Not found, or not yours to see (the two are the same answer).",
    409: "Conflicts with the resource's current state; or a request with the same Idempotency-Key is running.",
    412: "If-Match does not match the current ETag; `error.details.etag` is the current one.",
    422: "This Idempotency-Key was used with another body.",
    429: "Too many requests; retry after the `Retry-After` header's seconds.",
}
WRITES = {"post", "put", "patch", "delete"}


def _envelope_schema() -> dict:
    return {
        "type": "object",
        "description": "Every error the API returns has this shape.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "fields"],
                "properties": {
                    "code": {"type": "string", "description": "Stable machine-readable code, e.g. `invalid`."},
                    "message": {"type": "string", "description": "A sentence for people; never patient data."},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                        "description": "Messages per field, keyed by dotted path (`responses.pulse`).",
                    },
                    "details": {"description": "Extra, error-specific data (documented per operation)."},
                },
            }
        },
    }


def _wrap_details(details_schema: dict) -> dict:
    """A declared error body describes `error.details`; the response itself is the envelope."""
    return {
        "allOf": [
            ENVELOPE_REF,
            {"type": "object", "properties": {"error": {"type": "object", "properties": {"details": details_schema}}}},
        ]
    }


def _statuses_for(method: str, operation: dict, path: str) -> list[int]:
    statuses = [403, 429]
    if operation.get("security") != [{}] and {} not in operation.get("security", [{"x": []}]):
        statuses.append(401)
    if "{" in path:
        statuses.append(404)
    if operation.get("parameters") or "requestBody" in operation:
        statuses.append(400)
    if method in ("put", "patch", "delete"):
        statuses.append(412)
    if method == "post":
        statuses += [409, 422]
    return sorted(set(statuses))


def _error_responses(result: dict) -> None:
    result.setdefault("components", {}).setdefault("schemas", {})[ENVELOPE] = _envelope_schema()
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, response in responses.items():
                if not str(code).startswith("4"):
                    continue
                content = response.setdefault("content", {})
                body = content.get("application/json", {}).get("schema")
                if body is None:
                    content["application/json"] = {"schema": ENVELOPE_REF}
                elif body != ENVELOPE_REF:
                    content["application/json"] = {"schema": _wrap_details(body)}
            for status in _statuses_for(method, operation, path):
                if str(status) in responses or (status == 429 and method not in WRITES and "/auth/" not in path):
                    continue
                responses[str(status)] = {
                    "description": ERRORS[status],
                    "content": {"application/json": {"schema": ENVELOPE_REF}},
                }


def _role_views_any_of(result: dict) -> None:
    """`*ByRole` bodies are one resource seen by different roles: the clinical view is a superset of the
    summary, so a body matches one or both; `anyOf` says that (a `oneOf` would refuse the superset)."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("ByRole") and "oneOf" in schema:
            schema["anyOf"] = schema.pop("oneOf")


def _local_times(node):
    """Wall-clock times (quiet hours, daily check-in time) carry no offset; JSON Schema's `time` format
    demands one, so describe them with a pattern instead."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "time":
            node.pop("format")
            node["pattern"] = LOCAL_TIME_PATTERN
            node.setdefault("description", "Local wall-clock time, HH:MM[:SS], in the patient's time zone.")
        for value in node.values():
            _local_times(value)
    elif isinstance(node, list):
        for value in node:
            _local_times(value)


def postprocess_schema(result, generator, request, public):
    _local_times(result)
    _error_responses(result)
    _role_views_any_of(result)
    return result
