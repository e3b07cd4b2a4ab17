from clinic.accounts.models import Device
from clinic.accounts.roles import Role
from clinic.audit.models import AuditEvent
from clinic.tests.factories import UserFactory


def _device(user, name="phone"):
    return Device.objects.create(user=user, name=name)


def test_a_user_lists_only_their_own_devices(staff, api):
    mine = _device(staff["nurse"])
    _device(staff["physician"])
    rows = api(staff["nurse"]).get("/api/v1/devices/").json()["results"]
    assert [row["id"] for row in rows] == [str(mine.id)]


def test_clinic_admin_sees_and_revokes_devices_of_their_facility(staff, other_staff, patient, api):
    nurse_phone = _device(staff["nurse"])
    patient_phone = _device(patient.user)
    outsider_phone = _device(other_staff["nurse"])
    admin = staff["clinic_admin"]
    ids = {row["id"] for row in api(admin).get("/api/v1/devices/").json()["results"]}
    assert {str(nurse_phone.id), str(patient_phone.id)} <= ids
    assert str(outsider_phone.id) not in ids

    response = api(admin).post(f"/api/v1/devices/{patient_phone.id}/revoke/")
    assert response.status_code == 200
    patient_phone.refresh_from_db()
    assert patient_phone.revoked_by == admin
    assert AuditEvent.objects.filter(action="device_revoke", object_id=str(patient_phone.id)).exists()


def test_revoking_another_facilitys_device_is_404_and_changes_nothing(staff, other_staff, api):
    outsider_phone = _device(other_staff["nurse"])
    response = api(staff["clinic_admin"]).post(f"/api/v1/devices/{outsider_phone.id}/revoke/")
    assert response.status_code == 404
    outsider_phone.refresh_from_db()
    assert outsider_phone.revoked_at is None


def test_staff_cannot_revoke_a_colleagues_device(staff, api):
    colleague_phone = _device(staff["physician"])
    assert api(staff["nurse"]).post(f"/api/v1/devices/{colleague_phone.id}/revoke/").status_code == 404
    assert api(staff["nurse"]).post("/api/v1/devices/not-a-uuid/revoke/").status_code == 404


def test_a_clinic_admin_cannot_revoke_another_admins_device(staff, make_staff, api):
    other_admin = make_staff(Role.CLINIC_ADMIN, username="admin2")
    phone = _device(other_admin)
    assert api(staff["clinic_admin"]).post(f"/api/v1/devices/{phone.id}/revoke/").status_code == 404


def test_patient_sees_only_their_devices(patient, other_patient, api):
    _device(other_patient.user)
    mine = _device(patient.user)
    rows = api(patient.user).get("/api/v1/devices/").json()["results"]
    assert [row["id"] for row in rows] == [str(mine.id)]


def test_revoke_is_idempotent(staff, api):
    phone = _device(staff["nurse"])
    first = api(staff["nurse"]).post(f"/api/v1/devices/{phone.id}/revoke/").json()
    second = api(staff["nurse"]).post(f"/api/v1/devices/{phone.id}/revoke/").json()
    assert first["revoked_at"] == second["revoked_at"]


def test_unknown_role_user_gets_nothing(db, facility, api):
    user = UserFactory(role=Role.NURSE, facility=facility)
    user.role = "janitor"
    assert api(user).get("/api/v1/devices/").status_code == 403
