import datetime
import uuid

import pytest
import time_machine
from django.utils import timezone

from patients.models import Patient
from patients.tests.factories import PatientFactory

URL = "/api/v1/patients/"


def detail(patient) -> str:
    return f"{URL}{patient.id}/"


def payload(**overrides) -> dict:
    data = {
        "first_name": "Alex",
        "last_name": "Rivera",
        "date_of_birth": "1990-03-04",
        "sex": "male",
        "phone": "(617) 555-0199",
        "email": "Alex.Rivera@Example.org",
        "timezone": "America/Chicago",
        "preferred_channel": "sms",
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "07:30",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


# Create


def test_front_desk_registers_a_patient_with_normalised_contact_details(staff, facility, api, audit):
    response = api(staff["front_desk"]).post(URL, payload(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    patient = Patient.objects.get(pk=body["id"])
    assert patient.facility == facility
    assert body["facility"] == str(facility.id)
    assert body["phone"] == "+16175550199"
    assert body["email"] == "alex.rivera@example.org"
    assert body["timezone"] == "America/Chicago"
    assert (body["quiet_hours_start"], body["quiet_hours_end"]) == ("21:00:00", "07:30:00")
    assert body["mrn"] == patient.mrn == "DRC-000001"
    event = audit(action="create", object_id=str(patient.id)).get()
    assert event.actor == staff["front_desk"]
    assert event.patient_id == patient.id
    assert event.facility_id == facility.id


def test_mrns_are_sequential_per_facility_and_unique_there(staff, other_staff, api):
    first = api(staff["nurse"]).post(URL, payload(), format="json").json()
    no_phone = payload(last_name="Stone", phone=None, preferred_channel="none")
    second = api(staff["nurse"]).post(URL, no_phone, format="json").json()
    elsewhere = api(other_staff["nurse"]).post(URL, payload(), format="json").json()

    assert (first["mrn"], second["mrn"]) == ("DRC-000001", "DRC-000002")
    assert elsewhere["mrn"] == "OC-000001"


def test_staff_of_several_facilities_must_name_one_they_work_in(make_staff, facility, other_facility, api):
    nurse = make_staff("nurse")
    nurse.facilities.add(other_facility)

    missing = api(nurse).post(URL, payload(), format="json")
    chosen = api(nurse).post(URL, payload(facility=str(other_facility.id)), format="json")

    assert missing.status_code == 400
    assert missing.json()["error"]["fields"] == {"facility": ["This field is required."]}
    assert chosen.status_code == 201
    assert chosen.json()["facility"] == str(other_facility.id)


def test_registering_in_a_facility_one_does_not_work_in_is_refused(staff, other_facility, api):
    response = api(staff["front_desk"]).post(URL, payload(facility=str(other_facility.id)), format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["facility"]
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"first_name": None}, "first_name"),
        ({"last_name": ""}, "last_name"),
        ({"date_of_birth": None}, "date_of_birth"),
        ({"date_of_birth": "2030-01-01"}, "date_of_birth"),
        ({"date_of_birth": "1850-01-01"}, "date_of_birth"),
        ({"date_of_birth": "04/03/1990"}, "date_of_birth"),
        ({"sex": "x"}, "sex"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "+1 555 555 0101"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "EST5EDT-ish"}, "timezone"),
        ({"preferred_channel": "pigeon"}, "preferred_channel"),
        ({"preferred_channel": "sms", "phone": None}, "phone"),
        ({"preferred_channel": "email", "email": None}, "email"),
        ({"quiet_hours_end": None}, "quiet_hours_end"),
        ({"quiet_hours_start": None}, "quiet_hours_start"),
        ({"quiet_hours_end": "21:00"}, "quiet_hours_end"),
        ({"quiet_hours_start": "25:00"}, "quiet_hours_start"),
        ({"status": "archived"}, "status"),
    ],
)
def test_each_invalid_field_is_a_400_naming_it(staff, api, audit, overrides, field):
    with time_machine.travel(datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC), tick=False):
        response = api(staff["front_desk"]).post(URL, payload(**overrides), format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert not Patient.objects.exists()
    assert not audit(action="create").exists()


def test_date_of_birth_today_is_accepted_but_tomorrow_is_not(staff, api):
    with time_machine.travel(datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC), tick=False):
        today = api(staff["front_desk"]).post(URL, payload(date_of_birth="2026-03-01"), format="json")
        tomorrow = api(staff["front_desk"]).post(
            URL, payload(last_name="Other", phone=None, preferred_channel="none", date_of_birth="2026-03-02")
        )

    assert today.status_code == 201
    assert tomorrow.status_code == 400
    assert list(tomorrow.json()["error"]["fields"]) == ["date_of_birth"]


# Duplicates


def test_same_last_name_and_birth_date_is_a_possible_duplicate(staff, facility, api, audit):
    existing = PatientFactory(facility=facility, last_name="RIVERA", date_of_birth=datetime.date(1990, 3, 4))

    response = api(staff["front_desk"]).post(URL, payload(phone=None, preferred_channel="none"), format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "possible_duplicate"
    assert error["details"] == {"candidates": [str(existing.id)]}
    assert Patient.objects.count() == 1
    assert audit(action="duplicate_check", object_id=str(existing.id), actor=staff["front_desk"]).exists()


def test_same_phone_in_another_format_is_a_possible_duplicate(staff, facility, api):
    by_name = PatientFactory(facility=facility, last_name="Rivera", date_of_birth=datetime.date(1990, 3, 4))
    by_phone = PatientFactory(facility=facility, last_name="Nguyen", phone="+16175550199")

    response = api(staff["front_desk"]).post(URL, payload(phone="617.555.0199"), format="json")

    assert response.status_code == 409
    assert set(response.json()["error"]["details"]["candidates"]) == {str(by_name.id), str(by_phone.id)}


def test_confirming_a_different_person_registers_them(staff, facility, api):
    PatientFactory(facility=facility, last_name="Rivera", date_of_birth=datetime.date(1990, 3, 4))

    response = api(staff["front_desk"]).post(URL, payload(confirm_new_person=True), format="json")

    assert response.status_code == 201
    assert Patient.objects.filter(last_name__iexact="rivera").count() == 2


def test_a_namesake_in_another_facility_is_not_a_duplicate(staff, other_facility, api):
    PatientFactory(facility=other_facility, last_name="Rivera", date_of_birth=datetime.date(1990, 3, 4))
    PatientFactory(facility=other_facility, phone="+16175550199")

    response = api(staff["front_desk"]).post(URL, payload(), format="json")

    assert response.status_code == 201


# Read, search, filter


def test_staff_list_only_their_facilitys_patients_and_each_row_read_is_audited(
    staff, facility, other_facility, api, audit
):
    mine = PatientFactory(facility=facility)
    theirs = PatientFactory(facility=other_facility)

    response = api(staff["clinic_admin"]).get(URL)

    assert response.status_code == 200
    ids = [row["id"] for row in response.json()["results"]]
    assert ids == [str(mine.id)]
    assert audit(action="list", patient_id=mine.id, actor=staff["clinic_admin"]).exists()
    assert not audit(patient_id=theirs.id).exists()


def test_retrieve_is_audited(staff, patient, api, audit):
    response = api(staff["front_desk"]).get(detail(patient))

    assert response.status_code == 200
    assert response.json()["mrn"] == patient.mrn
    assert audit(action="view", patient_id=patient.id, actor=staff["front_desk"]).count() == 1


@pytest.fixture
def registry(facility):
    return {
        "avery": PatientFactory(
            facility=facility,
            first_name="Jordan",
            last_name="Avery",
            mrn="DRC-000101",
            phone="+16175550101",
            date_of_birth=datetime.date(1988, 4, 12),
        ),
        "brooks": PatientFactory(
            facility=facility,
            first_name="Taylor",
            last_name="Brooks",
            mrn="DRC-000102",
            phone="+16175550102",
            date_of_birth=datetime.date(1992, 9, 3),
            status=Patient.Status.INACTIVE,
        ),
        "averyson": PatientFactory(
            facility=facility,
            first_name="Sam",
            last_name="Averyson",
            mrn="DRC-000103",
            date_of_birth=datetime.date(1988, 4, 12),
        ),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"search": "avery"}, {"avery", "averyson"}),
        ({"search": "jordan avery"}, {"avery"}),
        ({"search": "TAYLOR"}, {"brooks"}),
        ({"search": "drc-000102"}, {"brooks"}),
        ({"search": "(617) 555-0101"}, {"avery"}),
        ({"search": "0102"}, {"brooks"}),
        ({"search": "nobody"}, set()),
        ({"mrn": "DRC-000103"}, {"averyson"}),
        ({"date_of_birth": "1988-04-12"}, {"avery", "averyson"}),
        ({"phone": "617-555-0102"}, {"brooks"}),
        ({"status": "inactive"}, {"brooks"}),
        ({"search": "avery", "date_of_birth": "1988-04-12", "status": "active"}, {"avery", "averyson"}),
    ],
)
def test_search_and_filters(staff, registry, api, params, expected):
    response = api(staff["front_desk"]).get(URL, params)

    assert response.status_code == 200, response.content
    found = {row["id"] for row in response.json()["results"]}
    assert found == {str(registry[name].id) for name in expected}


def test_filter_by_facility_among_the_callers_facilities(make_staff, facility, other_facility, api):
    nurse = make_staff("nurse")
    nurse.facilities.add(other_facility)
    here, there = PatientFactory(facility=facility), PatientFactory(facility=other_facility)

    both = api(nurse).get(URL).json()["results"]
    only_there = api(nurse).get(URL, {"facility": str(other_facility.id)}).json()["results"]

    assert {row["id"] for row in both} == {str(here.id), str(there.id)}
    assert [row["id"] for row in only_there] == [str(there.id)]


def test_a_facility_filter_cannot_widen_the_scope(staff, other_facility, api):
    PatientFactory(facility=other_facility)

    response = api(staff["nurse"]).get(URL, {"facility": str(other_facility.id)})

    assert response.json()["results"] == []


def test_updated_since_returns_only_later_changes(staff, facility, api):
    with time_machine.travel(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC), tick=False):
        PatientFactory(facility=facility)
    with time_machine.travel(datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC), tick=False):
        recent = PatientFactory(facility=facility)

    response = api(staff["nurse"]).get(URL, {"updated_since": "2026-01-15T00:00:00+00:00"})

    assert [row["id"] for row in response.json()["results"]] == [str(recent.id)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"date_of_birth": "yesterday"}, "date_of_birth"),
        ({"updated_since": "last week"}, "updated_since"),
        ({"status": "gone"}, "status"),
    ],
)
def test_invalid_filters_are_400_naming_them(staff, api, params, field):
    response = api(staff["nurse"]).get(URL, params)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_patient_list_query_count_does_not_grow_with_the_page(staff, facility, assert_constant_list_queries):
    PatientFactory.create_batch(50, facility=facility)

    assert_constant_list_queries(staff["nurse"], URL, bound=6)


# Update


def test_front_desk_updates_demographics_and_the_change_is_audited_by_field_name(staff, patient, api, audit):
    response = api(staff["front_desk"]).patch(
        detail(patient), {"phone": "+1 (617) 555-0177", "last_name": "Jones-Avery"}, format="json"
    )

    assert response.status_code == 200, response.content
    patient.refresh_from_db()
    assert patient.phone == "+16175550177"
    assert patient.last_name == "Jones-Avery"
    event = audit(action="update", object_id=str(patient.id)).get()
    assert event.detail == {"fields": ["last_name", "phone"]}
    assert "Jones" not in str(event.detail)


def test_put_replaces_the_demographics(staff, patient, api):
    response = api(staff["nurse"]).put(detail(patient), payload(), format="json")

    assert response.status_code == 200, response.content
    assert response.json()["last_name"] == "Rivera"
    assert response.json()["mrn"] == patient.mrn


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"phone": "555"}, "phone"),
        ({"email": "a@"}, "email"),
        ({"quiet_hours_start": "22:00"}, "quiet_hours_end"),
        ({"preferred_channel": "email"}, "email"),
    ],
)
def test_invalid_updates_are_400_naming_the_field_and_change_nothing(staff, patient, api, audit, data, field):
    before = Patient.objects.filter(pk=patient.pk).values().get()

    response = api(staff["front_desk"]).patch(detail(patient), data, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert Patient.objects.filter(pk=patient.pk).values().get() == before
    assert not audit(action="update").exists()


def test_the_mrn_and_facility_cannot_be_changed(staff, patient, other_facility, api):
    response = api(staff["front_desk"]).patch(
        detail(patient), {"mrn": "X-1", "facility": str(other_facility.id), "first_name": "Jo"}, format="json"
    )

    assert response.status_code == 200
    patient.refresh_from_db()
    assert (patient.mrn, patient.facility_id, patient.first_name) != ("X-1", other_facility.id, "")
    assert patient.first_name == "Jo"
    assert patient.facility_id != other_facility.id


# Roles and scope


def test_clinic_admin_reads_but_does_not_register_or_edit(staff, patient, api):
    admin = staff["clinic_admin"]

    assert api(admin).get(detail(patient)).status_code == 200
    assert api(admin).post(URL, payload(), format="json").status_code == 403
    assert api(admin).patch(detail(patient), {"first_name": "X"}, format="json").status_code == 403


@pytest.mark.parametrize("role", ["physician", "nurse", "counselor", "case_manager", "front_desk"])
def test_clinicians_and_front_desk_register_and_edit(staff, patient, api, role):
    assert api(staff[role]).post(URL, payload(), format="json").status_code == 201
    assert api(staff[role]).patch(detail(patient), {"first_name": "Sam"}, format="json").status_code == 200


def test_other_facility_staff_get_404_and_change_nothing(staff, other_staff, patient, api, audit):
    before = Patient.objects.filter(pk=patient.pk).values().get()
    outsider = other_staff["nurse"]

    assert api(outsider).get(detail(patient)).status_code == 404
    assert api(outsider).patch(detail(patient), {"first_name": "X"}, format="json").status_code == 404
    assert api(outsider).put(detail(patient), payload(), format="json").status_code == 404

    assert Patient.objects.filter(pk=patient.pk).values().get() == before
    assert not audit(patient_id=patient.id).exists()


def test_a_patient_sees_only_their_own_record_and_cannot_edit_it_here(patient, other_patient, api):
    own = api(patient.user).get(detail(patient))
    listed = api(patient.user).get(URL).json()["results"]

    assert own.status_code == 200
    assert [row["id"] for row in listed] == [str(patient.id)]
    assert api(patient.user).get(detail(other_patient)).status_code == 404
    assert api(patient.user).patch(detail(patient), {"first_name": "X"}, format="json").status_code == 403
    assert api(patient.user).post(URL, payload(), format="json").status_code == 403


def test_unknown_and_malformed_ids_are_404(staff, api):
    assert api(staff["nurse"]).get(f"{URL}{uuid.uuid4()}/").status_code == 404
    assert api(staff["nurse"]).get(f"{URL}not-a-uuid/").status_code == 404


def test_anonymous_is_401(api, patient):
    assert api().get(URL).status_code == 401
    assert api().get(detail(patient)).status_code == 401


def test_timestamps_are_aware_utc_iso(staff, patient, api):
    body = api(staff["nurse"]).get(detail(patient)).json()
    created = datetime.datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() == datetime.timedelta(0)
    assert abs(timezone.now() - created) < datetime.timedelta(minutes=1)


# The `stage` filter is registered by the app that owns episodes (patients.extensions).


def test_stage_filter_without_a_registered_provider_is_a_400_naming_it(staff, api, monkeypatch):
    monkeypatch.setattr("patients.extensions._stage_filter", None)

    response = api(staff["nurse"]).get(URL, {"stage": "detox"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["stage"]


def test_stage_filter_applies_the_registered_filter_and_checks_its_choices(staff, facility, api, monkeypatch):
    from patients import extensions

    monkeypatch.setattr("patients.extensions._stage_filter", None)
    in_detox = PatientFactory(facility=facility, first_name="Detox")
    PatientFactory(facility=facility, first_name="Therapy")
    extensions.register_stage_filter(
        lambda patients, stage: patients.filter(first_name__iexact=stage), choices=["detox", "therapy"]
    )

    found = api(staff["nurse"]).get(URL, {"stage": "detox"})
    unknown = api(staff["nurse"]).get(URL, {"stage": "holiday"})

    assert [row["id"] for row in found.json()["results"]] == [str(in_detox.id)]
    assert unknown.status_code == 400
    assert list(unknown.json()["error"]["fields"]) == ["stage"]
