import pytest
from rest_framework.test import APIClient

from clinic.api.errors import flatten_errors


def test_unknown_api_url_is_a_json_404(db):
    response = APIClient().get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}


def test_method_not_allowed_is_405_in_the_envelope(staff, api):
    response = api(staff["nurse"]).delete("/api/v1/me/")
    assert response.status_code in (403, 405)
    assert "error" in response.json()


def test_validation_errors_name_each_field(staff, api):
    response = api(staff["front_desk"]).post(
        "/api/v1/patients/", {"first_name": "", "date_of_birth": "not-a-date"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert {"first_name", "last_name", "date_of_birth"} <= set(error["fields"])
    assert error["message"]


def test_permission_denied_is_403_in_the_envelope(staff, api):
    response = api(staff["clinic_admin"]).post("/api/v1/patients/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_unhandled_errors_are_a_500_envelope_without_internals(staff, api, monkeypatch):
    from patients.api.views import PatientViewSet

    def explode(self, request, *args, **kwargs):
        raise RuntimeError("secret internal detail: Jane Doe")

    monkeypatch.setattr(PatientViewSet, "list", explode)
    response = api(staff["nurse"]).get("/api/v1/patients/")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "server_error", "message": "An unexpected error occurred.", "fields": {}}
    }
    assert "Jane" not in response.content.decode()


def test_every_response_carries_a_request_id(db):
    response = APIClient().get("/api/v1/me/")
    assert len(response["X-Request-ID"]) == 32
    echoed = APIClient().get("/api/v1/me/", HTTP_X_REQUEST_ID="mobile-retry-1234")
    assert echoed["X-Request-ID"] == "mobile-retry-1234"
    refused = APIClient().get("/api/v1/me/", HTTP_X_REQUEST_ID="<script>")
    assert refused["X-Request-ID"] != "<script>"


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ({"responses": {"pulse": ["bad"]}}, {"responses.pulse": ["bad"]}),
        ({"items": [{"dose": ["required"]}, {}]}, {"items.0.dose": ["required"]}),
        (["whole thing wrong"], {"non_field_errors": ["whole thing wrong"]}),
        ({"__all__": ["clash"]}, {"non_field_errors": ["clash"]}),
        ("plain", {"non_field_errors": ["plain"]}),
    ],
)
def test_flatten_errors(detail, expected):
    assert flatten_errors(detail) == expected
