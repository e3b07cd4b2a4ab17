"""OpenAPI post-processing shared by every endpoint."""

LOCAL_TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"


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
    return result
