"""A patient's own contacts from the app (/api/v1/me/support-contacts/), and what a removal or a transfer to
another facility puts in the deletions feed (/api/v1/sync/deletions/)."""

import datetime

import pytest
from django.utils import timezone

from clinic.api.models import Tombstone
from clinic.tests.factories import UserFactory
from patients.models import Patient, PatientContact
from patients.tests.factories import AllergyFactory, PatientContactFactory

URL = "/api/v1/me/support-contacts/"
SPONSOR = {"name": "Sam", "relationship": "sponsor", "phone": "617-555-0101", "may_contact": True}


def feed(api, user, since) -> set[tuple[str, str, str]]:
    rows = api(user).get("/api/v1/sync/deletions/", {"since": since.isoformat()}).json()["results"]
    return {(row["model"], row["object_id"], row["reason"]) for row in rows}


def test_a_patient_lists_their_own_contacts_of_both_kinds(patient, other_patient, api, audit):
    support = PatientContactFactory(patient=patient, kind="support", phone="+16175550101")
    emergency = PatientContactFactory(patient=patient, kind="emergency", phone="+16175550102")
    PatientContactFactory(patient=other_patient, kind="support", phone="+16175550103")

    response = api(patient.user).get(URL)

    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {str(support.pk), str(emergency.pk)}
    assert audit(action="list", object_id=str(support.pk), actor=patient.user).exists()


def test_a_patient_adds_changes_and_removes_a_support_contact(patient, api, audit):
    client = api(patient.user)

    created = client.post(URL, SPONSOR, format="json")
    assert created.status_code == 201, created.content
    contact_id = created.json()["id"]
    assert created.json()["kind"] == "support"
    assert created.json()["phone"] == "+16175550101"
    assert audit(action="create", object_id=contact_id, actor=patient.user).exists()

    etag = client.get(f"{URL}{contact_id}/")["ETag"]
    changed = client.patch(f"{URL}{contact_id}/", {"relationship": "friend"}, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200, changed.content
    assert changed.json()["relationship"] == "friend"
    stale = client.patch(f"{URL}{contact_id}/", {"relationship": "x"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412

    assert client.delete(f"{URL}{contact_id}/").status_code == 204
    assert not PatientContact.objects.filter(pk=contact_id).exists()
    assert audit(action="delete", object_id=contact_id, actor=patient.user).exists()


def test_emergency_contacts_are_read_only_from_the_app(patient, api):
    emergency = PatientContactFactory(patient=patient, kind="emergency", phone="+16175550102")
    client = api(patient.user)

    assert client.post(URL, {**SPONSOR, "kind": "emergency"}, format="json").status_code == 400
    assert client.patch(f"{URL}{emergency.pk}/", {"name": "X"}, format="json").status_code == 403
    assert client.delete(f"{URL}{emergency.pk}/").status_code == 403
    assert PatientContact.objects.filter(pk=emergency.pk, name=emergency.name).exists()


@pytest.mark.parametrize(
    ("values", "field"), [({"phone": "12"}, "phone"), ({"name": ""}, "name"), ({"kind": "emergency"}, "kind")]
)
def test_bad_contacts_are_a_400_naming_the_field(values, field, patient, api):
    response = api(patient.user).post(URL, {**SPONSOR, **values}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_another_patient_gets_404_and_changes_nothing(patient, other_patient, api):
    contact = PatientContactFactory(patient=patient, kind="support", phone="+16175550101")
    client = api(other_patient.user)

    assert client.get(f"{URL}{contact.pk}/").status_code == 404
    assert client.patch(f"{URL}{contact.pk}/", {"name": "X"}, format="json").status_code == 404
    assert client.delete(f"{URL}{contact.pk}/").status_code == 404
    assert PatientContact.objects.filter(pk=contact.pk, name=contact.name).exists()


def test_staff_get_403_on_the_patients_corner(patient, staff, other_staff, api):
    for user in (staff["front_desk"], staff["nurse"], other_staff["nurse"]):
        assert api(user).get(URL).status_code == 403
        assert api(user).post(URL, SPONSOR, format="json").status_code == 403


def test_the_list_costs_the_same_for_3_and_15_rows(patient, assert_same_budget_for_3_and_15_rows):
    def make_row():
        PatientContactFactory(patient=patient, kind="support", phone="+16175550101")

    assert_same_budget_for_3_and_15_rows(patient.user, URL, make_row, bound=8)


# --- The deletions feed ---------------------------------------------------------------------------------


def test_a_contact_deleted_through_the_api_reaches_the_feed_of_its_facility_and_patient(
    patient, staff, other_staff, api
):
    since = timezone.now() - datetime.timedelta(seconds=1)
    created = api(staff["front_desk"]).post(
        "/api/v1/patient-contacts/", {**SPONSOR, "kind": "support", "patient": str(patient.pk)}, format="json"
    )
    contact_id = created.json()["id"]

    assert api(staff["front_desk"]).delete(f"/api/v1/patient-contacts/{contact_id}/").status_code == 204

    expected = {("patients.patientcontact", contact_id, "deleted")}
    assert feed(api, staff["nurse"], since) == expected
    assert feed(api, patient.user, since) == expected
    assert feed(api, other_staff["nurse"], since) == set()
    later = timezone.now() + datetime.timedelta(seconds=1)
    assert feed(api, staff["nurse"], later) == set()


# --- Transfer to another facility ----------------------------------------------------------------------


@pytest.fixture
def network_admin(facility, other_facility):
    """A clinic administrator working in both facilities."""
    admin = UserFactory(role="clinic_admin", facility=facility)
    admin.facilities.add(other_facility)
    return admin


def test_a_transfer_takes_the_patient_and_their_records_out_of_the_old_facilitys_scope(
    patient, other_facility, network_admin, staff, other_staff, api, audit
):
    allergy = AllergyFactory(patient=patient)
    contact = PatientContactFactory(patient=patient, kind="support", phone="+16175550101")
    old_mrn = patient.mrn
    since = timezone.now() - datetime.timedelta(seconds=1)

    response = api(network_admin).post(
        f"/api/v1/patients/{patient.pk}/transfer/",
        {"facility": str(other_facility.pk), "reason": "Moved closer to family."},
        format="json",
    )

    assert response.status_code == 200, response.content
    patient.refresh_from_db()
    assert patient.facility == other_facility
    assert patient.mrn != old_mrn
    assert audit(action="transfer", object_id=str(patient.pk)).get().detail["previous_mrn"] == old_mrn
    left = feed(api, staff["nurse"], since)
    assert {
        ("patients.patient", str(patient.pk), "left_scope"),
        ("patients.allergy", str(allergy.pk), "left_scope"),
        ("patients.patientcontact", str(contact.pk), "left_scope"),
    } <= left
    assert api(staff["nurse"]).get(f"/api/v1/patients/{patient.pk}/").status_code == 404
    # The new facility gains them; the patient keeps their own records (no tombstone for them).
    assert feed(api, other_staff["nurse"], since) == set()
    assert api(other_staff["nurse"]).get(f"/api/v1/patients/{patient.pk}/").status_code == 200
    assert feed(api, patient.user, since) == set()
    assert Tombstone.objects.filter(reason="left_scope", patient_user_id__isnull=False).count() == 0


def test_a_patient_with_an_open_episode_is_discharged_before_moving(patient, other_facility, network_admin, staff, api):
    from treatment.tests.factories import EpisodeFactory

    EpisodeFactory(patient=patient)
    response = api(network_admin).post(
        f"/api/v1/patients/{patient.pk}/transfer/", {"facility": str(other_facility.pk), "reason": "x"}, format="json"
    )
    assert response.status_code == 409
    assert Patient.objects.get(pk=patient.pk).facility_id != other_facility.pk
    assert not Tombstone.objects.exists()


@pytest.mark.parametrize("field", ["facility", "reason"])
def test_a_transfer_needs_a_facility_of_yours_and_a_reason(field, patient, other_facility, facility, api, make_staff):
    admin = make_staff("clinic_admin")  # works only in `facility`
    body = {"facility": str(other_facility.pk), "reason": "Moved."}
    if field == "reason":
        admin.facilities.add(other_facility)
        body["reason"] = " "
    response = api(admin).post(f"/api/v1/patients/{patient.pk}/transfer/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_only_administrators_transfer_and_other_facilities_see_nothing(
    patient, other_facility, staff, other_staff, api
):
    url = f"/api/v1/patients/{patient.pk}/transfer/"
    body = {"facility": str(other_facility.pk), "reason": "Moved."}
    assert api(staff["nurse"]).post(url, body, format="json").status_code == 403
    assert api(patient.user).post(url, body, format="json").status_code == 403
    assert api(other_staff["clinic_admin"]).post(url, body, format="json").status_code == 404
