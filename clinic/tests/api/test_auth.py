import pytest
from rest_framework.test import APIClient

from clinic.accounts.models import Device
from clinic.accounts.roles import Role
from clinic.api.throttling import LoginAccountThrottle, LoginAddressThrottle
from clinic.audit.models import AuditEvent
from clinic.tests.factories import UserFactory

PASSWORD = "correct-horse-battery"


def login(username, password=PASSWORD, **extra):
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password, **extra}, format="json")


def bearer(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


@pytest.fixture
def nurse(facility):
    return UserFactory(role=Role.NURSE, facility=facility, username="nurse1")


def test_login_returns_a_token_pair_bound_to_a_device(nurse):
    response = login("nurse1", device_name="Ward tablet")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "device"}
    device = Device.objects.get(id=body["device"])
    assert device.user == nurse
    assert device.name == "Ward tablet"
    assert AuditEvent.objects.filter(action="login", actor=nurse).count() == 1
    me = bearer(body["access"]).get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "nurse1"
    assert me.json()["role"] == "nurse"


def test_wrong_password_is_401_in_the_envelope(nurse):
    response = login("nurse1", "wrong-password")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert not Device.objects.exists()


def test_inactive_user_is_refused(nurse):
    nurse.is_active = False
    nurse.save()
    assert login("nurse1").status_code == 401


def test_missing_fields_are_400_naming_them(db):
    response = APIClient().post("/api/v1/auth/token/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"username", "password"}


def test_refresh_rotates_and_the_old_refresh_token_is_dead(nurse):
    tokens = login("nurse1").json()
    rotated = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert {"access", "refresh"} <= set(rotated.json())
    replay = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert replay.status_code == 401
    again = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": rotated.json()["refresh"]}, format="json")
    assert again.status_code == 200


def test_revoked_device_cannot_refresh(nurse):
    tokens = login("nurse1").json()
    response = bearer(tokens["access"]).post(f"/api/v1/devices/{tokens['device']}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    refused = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "device_revoked"


def test_logout_blacklists_the_refresh_token_and_signs_the_device_out(nurse):
    tokens = login("nurse1").json()
    assert bearer(tokens["access"]).post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}).status_code == 204
    assert Device.objects.get(id=tokens["device"]).revoked_at is not None
    assert APIClient().post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}).status_code == 401


def test_logout_refuses_someone_elses_token(nurse, facility):
    UserFactory(role=Role.NURSE, facility=facility, username="nurse2")
    mine = login("nurse1").json()
    theirs = login("nurse2").json()
    response = bearer(mine["access"]).post("/api/v1/auth/logout/", {"refresh": theirs["refresh"]})
    assert response.status_code == 400
    assert "refresh" in response.json()["error"]["fields"]


def test_garbage_tokens_are_401(db):
    assert APIClient().post("/api/v1/auth/token/refresh/", {"refresh": "nope"}).status_code == 401
    assert bearer("nope").get("/api/v1/me/").status_code == 401


def test_no_token_is_401(db):
    response = APIClient().get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_login_throttle_is_keyed_on_the_account_whatever_the_forwarded_address(nurse, monkeypatch):
    monkeypatch.setattr(LoginAccountThrottle, "rate", "3/min", raising=False)
    monkeypatch.setattr(LoginAddressThrottle, "rate", "100/min", raising=False)
    for attempt in range(3):
        response = APIClient().post(
            "/api/v1/auth/token/",
            {"username": "NURSE1", "password": "x"},
            HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}",
            REMOTE_ADDR=f"192.0.2.{attempt}",
        )
        assert response.status_code == 401
    blocked = APIClient().post(
        "/api/v1/auth/token/",
        {"username": "nurse1", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="10.9.9.9",
        REMOTE_ADDR="192.0.2.200",
    )
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "throttled"
    assert int(blocked["Retry-After"]) > 0


def test_login_throttle_is_keyed_on_the_socket_address_not_x_forwarded_for(nurse, monkeypatch):
    monkeypatch.setattr(LoginAccountThrottle, "rate", "100/min", raising=False)
    monkeypatch.setattr(LoginAddressThrottle, "rate", "3/min", raising=False)
    for attempt in range(3):
        APIClient().post(
            "/api/v1/auth/token/",
            {"username": f"someone{attempt}", "password": "x"},
            HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}",
        )
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "nurse1", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="10.1.1.1"
    )
    assert response.status_code == 429


def test_me_for_a_patient_names_their_record(patient, api):
    body = api(patient.user).get("/api/v1/me/").json()
    assert body["role"] == "patient"
    assert body["patient"] == str(patient.id)


def test_me_for_staff_lists_facilities_and_no_patient(staff, facility, api):
    body = api(staff["counselor"]).get("/api/v1/me/").json()
    assert body["facilities"] == [{"id": str(facility.id), "name": facility.name}]
    assert body["patient"] is None
