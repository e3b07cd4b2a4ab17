"""A patient's own record from the app: GET/PATCH /api/v1/me/profile/ (contact details and preferences)."""

import pytest

from patients.models import Patient
from patients.tests.factories import CommunicationConsentFactory, PatientFactory

URL = "/api/v1/me/profile/"


def test_me_links_the_patient_record(patient, api):
    assert api(patient.user).get("/api/v1/me/").json()["patient"] == str(patient.id)


def test_a_patient_reads_their_profile_and_the_read_is_audited(patient, api, audit):
    CommunicationConsentFactory(patient=patient, channel="sms")
    CommunicationConsentFactory(patient=patient, channel="email", action="opt_out")

    response = api(patient.user).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(patient.id)
    assert body["mrn"] == patient.mrn
    assert body["consented_channels"] == ["sms"]
    assert "status" not in body
    assert "facility" not in body
    assert audit(action="view", patient_id=patient.id, actor=patient.user).count() == 1


def test_a_patient_updates_contact_details_and_preferences(patient, api, audit):
    response = api(patient.user).patch(
        URL,
        {
            "phone": "617-555-0166",
            "email": "Me@Example.org",
            "timezone": "America/Los_Angeles",
            "preferred_channel": "sms",
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "07:00",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    patient.refresh_from_db()
    assert patient.phone == "+16175550166"
    assert patient.email == "me@example.org"
    assert patient.timezone == "America/Los_Angeles"
    assert patient.preferred_channel == "sms"
    assert str(patient.quiet_hours_start) == "22:00:00"
    event = audit(action="update", patient_id=patient.id).get()
    assert event.actor == patient.user
    assert event.detail["fields"] == [
        "email",
        "phone",
        "preferred_channel",
        "quiet_hours_end",
        "quiet_hours_start",
        "timezone",
    ]


@pytest.mark.parametrize("field", ["first_name", "last_name", "date_of_birth", "sex", "status", "mrn", "facility"])
def test_other_fields_are_refused_by_name_and_nothing_changes(patient, api, audit, field):
    before = Patient.objects.filter(pk=patient.pk).values().get()

    response = api(patient.user).patch(URL, {field: "x", "timezone": "America/Chicago"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert Patient.objects.filter(pk=patient.pk).values().get() == before
    assert not audit(action="update").exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"email": "me@"}, "email"),
        ({"timezone": "Moon/Tranquility"}, "timezone"),
        ({"preferred_channel": "carrier_pigeon"}, "preferred_channel"),
        ({"quiet_hours_start": "22:00"}, "quiet_hours_end"),
        ({"preferred_channel": "email"}, "email"),
    ],
)
def test_invalid_profile_values_are_400_naming_the_field(patient, api, data, field):
    response = api(patient.user).patch(URL, data, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_staff_have_no_profile_here(staff, api):
    assert api(staff["nurse"]).get(URL).status_code == 403
    assert api(staff["front_desk"]).patch(URL, {"timezone": "UTC"}, format="json").status_code == 403


def test_a_patient_account_without_a_record_gets_404(api, facility):
    from clinic.accounts.roles import Role
    from clinic.tests.factories import UserFactory

    orphan = UserFactory(role=Role.PATIENT, facility=facility)

    assert api(orphan).get(URL).status_code == 404


def test_a_patient_changes_only_their_own_record(patient, other_patient, api):
    stranger = PatientFactory(facility=patient.facility, phone="")

    api(patient.user).patch(URL, {"phone": "6175550188"}, format="json")

    other_patient.refresh_from_db()
    stranger.refresh_from_db()
    assert (other_patient.phone, stranger.phone) == ("", "")


def test_anonymous_is_401(api):
    assert api().get(URL).status_code == 401


def test_profile_updates_honour_if_match(patient, api):
    etag = api(patient.user).get(URL).headers["ETag"]

    first = api(patient.user).patch(URL, {"timezone": "America/Denver"}, format="json", HTTP_IF_MATCH=etag)
    stale = api(patient.user).patch(URL, {"timezone": "America/Phoenix"}, format="json", HTTP_IF_MATCH=etag)

    assert first.status_code == 200
    assert first.headers["ETag"] != etag
    assert stale.status_code == 412
    patient.refresh_from_db()
    assert patient.timezone == "America/Denver"
