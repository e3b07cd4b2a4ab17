"""Parts of the record served as top-level resources filtered by `patient`: substance-use history,
co-occurring conditions, allergies (clinical) and emergency/support contacts (demographic)."""

import datetime

import pytest
import time_machine

from patients.models import Allergy, CoOccurringCondition, PatientContact, SubstanceUseHistory
from patients.tests.factories import (
    AllergyFactory,
    CoOccurringConditionFactory,
    PatientContactFactory,
    PatientFactory,
    SubstanceUseHistoryFactory,
)

NOW = datetime.datetime(2026, 3, 10, 15, 0, tzinfo=datetime.UTC)

HISTORY = "/api/v1/substance-use-history/"
CONDITIONS = "/api/v1/conditions/"
ALLERGIES = "/api/v1/allergies/"
CONTACTS = "/api/v1/patient-contacts/"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


# Substance-use history


def history_payload(of, **overrides):
    data = {
        "patient": str(of.id),
        "substance": "kratom",
        "route": "oral",
        "amount": "12.5",
        "amount_unit": "g",
        "frequency": "several_daily",
        "years_of_use": "3.5",
        "age_at_first_use": 25,
        "last_use": "2026-03-09T22:30:00-05:00",
        "notes": "Powder, 3-4 times a day",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def test_a_clinician_records_kratom_as_its_own_substance(frozen, staff, patient, api, audit):
    response = api(staff["nurse"]).post(HISTORY, history_payload(patient), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["substance"] == "kratom"
    assert body["substance_other"] == ""
    assert body["patient"] == str(patient.id)
    assert body["last_use"] == "2026-03-10T03:30:00Z"
    entry = SubstanceUseHistory.objects.get(pk=body["id"])
    assert entry.last_use == datetime.datetime(2026, 3, 10, 3, 30, tzinfo=datetime.UTC)
    assert entry.amount == pytest.approx(12.5)
    event = audit(action="create", object_id=str(entry.id)).get()
    assert (event.patient_id, event.actor) == (patient.id, staff["nurse"])


def test_other_substance_needs_its_name(frozen, staff, patient, api):
    missing = api(staff["nurse"]).post(HISTORY, history_payload(patient, substance="other"), format="json")
    named = api(staff["nurse"]).post(
        HISTORY, history_payload(patient, substance="other", substance_other="Phenibut"), format="json"
    )

    assert missing.status_code == 400
    assert list(missing.json()["error"]["fields"]) == ["substance_other"]
    assert named.status_code == 201
    assert named.json()["substance_other"] == "Phenibut"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"substance": None}, "substance"),
        ({"substance": "coffee"}, "substance"),
        ({"substance_other": "Kava"}, "substance_other"),
        ({"route": "telepathic"}, "route"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"amount_unit": None}, "amount_unit"),
        ({"amount": None}, "amount"),
        ({"amount_unit": "buckets"}, "amount_unit"),
        ({"frequency": "sometimes"}, "frequency"),
        ({"years_of_use": "-2"}, "years_of_use"),
        ({"years_of_use": "80"}, "years_of_use"),
        ({"age_at_first_use": 0}, "age_at_first_use"),
        ({"age_at_first_use": 70}, "age_at_first_use"),
        ({"last_use": "2026-03-11T00:00:00Z"}, "last_use"),
        ({"last_use": "yesterday"}, "last_use"),
        ({"patient": "not-a-uuid"}, "patient"),
        ({"patient": None}, "patient"),
    ],
)
def test_history_validation_errors_name_the_field(frozen, staff, patient, api, audit, overrides, field):
    response = api(staff["physician"]).post(HISTORY, history_payload(patient, **overrides), format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert not SubstanceUseHistory.objects.exists()
    assert not audit(action="create").exists()


def test_a_clinician_corrects_an_entry_and_the_change_is_audited(frozen, staff, patient, api, audit):
    entry = SubstanceUseHistoryFactory(patient=patient, substance="alcohol", amount=6, amount_unit="standard_drinks")

    response = api(staff["counselor"]).patch(
        f"{HISTORY}{entry.id}/", {"frequency": "daily", "amount": "8"}, format="json"
    )

    assert response.status_code == 200, response.content
    entry.refresh_from_db()
    assert (entry.frequency, int(entry.amount)) == ("daily", 8)
    assert audit(action="update", object_id=str(entry.id)).get().detail == {"fields": ["amount", "frequency"]}


def test_an_entry_never_moves_to_another_patient(frozen, staff, patient, other_patient, api):
    entry = SubstanceUseHistoryFactory(patient=patient)

    response = api(staff["nurse"]).patch(f"{HISTORY}{entry.id}/", {"patient": str(other_patient.id)}, format="json")

    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.patient == patient


def test_history_is_listed_per_patient(frozen, staff, patient, other_patient, api, audit):
    kratom = SubstanceUseHistoryFactory(patient=patient, substance="kratom")
    alcohol = SubstanceUseHistoryFactory(patient=patient, substance="alcohol", amount=None, amount_unit="")
    SubstanceUseHistoryFactory(patient=other_patient)

    rows = api(staff["nurse"]).get(HISTORY, {"patient": str(patient.id)}).json()["results"]
    alcohol_only = api(staff["nurse"]).get(HISTORY, {"patient": str(patient.id), "substance": "alcohol"}).json()

    assert {row["id"] for row in rows} == {str(kratom.id), str(alcohol.id)}
    assert [row["id"] for row in alcohol_only["results"]] == [str(alcohol.id)]
    assert audit(action="list", object_id=str(kratom.id), actor=staff["nurse"]).exists()


def test_history_detail_read_is_audited(frozen, staff, patient, api, audit):
    entry = SubstanceUseHistoryFactory(patient=patient)

    response = api(staff["physician"]).get(f"{HISTORY}{entry.id}/")

    assert response.status_code == 200
    assert response.json()["substance"] == "kratom"
    assert audit(action="view", object_id=str(entry.id), patient_id=patient.id).count() == 1


# Conditions


def test_conditions_are_recorded_with_a_normalised_icd10_code_and_resolved_later(frozen, staff, patient, api, audit):
    created = api(staff["physician"]).post(
        CONDITIONS,
        {"patient": str(patient.id), "name": "Major depressive disorder", "icd10_code": " f33.1 "},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["icd10_code"] == "F33.1"
    assert created.json()["status"] == "active"

    resolved = api(staff["physician"]).patch(
        f"{CONDITIONS}{created.json()['id']}/", {"status": "resolved", "resolved_date": "2026-03-01"}, format="json"
    )
    assert resolved.status_code == 200, resolved.content
    condition = CoOccurringCondition.objects.get(pk=created.json()["id"])
    assert condition.status == "resolved"
    assert audit(action="update", object_id=str(condition.id)).get().detail == {"fields": ["resolved_date", "status"]}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"icd10_code": "F3"}, "icd10_code"),
        ({"icd10_code": "123.4"}, "icd10_code"),
        ({"icd10_code": "F41.1-"}, "icd10_code"),
        ({"icd10_code": "F4.11"}, "icd10_code"),
        ({"icd10_code": "F41.12345"}, "icd10_code"),
        ({"status": "remission"}, "status"),
        ({"onset_date": "2027-01-01"}, "onset_date"),
        ({"resolved_date": "2026-01-01"}, "resolved_date"),
        ({"status": "resolved", "onset_date": "2026-02-01", "resolved_date": "2026-01-01"}, "resolved_date"),
    ],
)
def test_condition_validation_errors_name_the_field(frozen, staff, patient, api, data, field):
    response = api(staff["nurse"]).post(
        CONDITIONS, {"patient": str(patient.id), "name": "Anxiety", **data}, format="json"
    )

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not CoOccurringCondition.objects.exists()


def test_conditions_filter_by_status(frozen, staff, patient, api):
    active = CoOccurringConditionFactory(patient=patient)
    CoOccurringConditionFactory(patient=patient, name="PTSD", status="resolved")

    rows = api(staff["nurse"]).get(CONDITIONS, {"patient": str(patient.id), "status": "active"}).json()["results"]

    assert [row["id"] for row in rows] == [str(active.id)]


# Allergies


def test_allergies_are_recorded_and_corrected(frozen, staff, patient, api, audit):
    created = api(staff["nurse"]).post(
        ALLERGIES,
        {"patient": str(patient.id), "substance": " Penicillin ", "reaction": "Hives", "severity": "moderate"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["substance"] == "Penicillin"

    changed = api(staff["nurse"]).patch(f"{ALLERGIES}{created.json()['id']}/", {"severity": "severe"}, format="json")
    assert changed.status_code == 200
    assert Allergy.objects.get().severity == "severe"
    assert audit(action="update", model="patients.allergy").get().detail == {"fields": ["severity"]}


@pytest.mark.parametrize(("data", "field"), [({"substance": ""}, "substance"), ({"severity": "fatal"}, "severity")])
def test_allergy_validation_errors_name_the_field(frozen, staff, patient, api, data, field):
    response = api(staff["nurse"]).post(ALLERGIES, {"patient": str(patient.id), "substance": "Latex", **data})

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


# Contacts


def test_front_desk_adds_an_emergency_contact_with_a_normalised_phone(frozen, staff, patient, api, audit):
    response = api(staff["front_desk"]).post(
        CONTACTS,
        {
            "patient": str(patient.id),
            "kind": "emergency",
            "name": "Dana Avery",
            "relationship": "Spouse",
            "phone": "617 555 0111",
            "may_contact": True,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["phone"] == "+16175550111"
    assert response.json()["may_contact"] is True
    assert audit(action="create", model="patients.patientcontact", patient_id=patient.id).exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "neighbour"}, "kind"),
        ({"name": ""}, "name"),
        ({"relationship": ""}, "relationship"),
        ({"phone": "911"}, "phone"),
        ({"phone": ""}, "phone"),
        ({"kind": "support", "phone": "", "email": ""}, "phone"),
        ({"email": "dana@"}, "email"),
    ],
)
def test_contact_validation_errors_name_the_field(frozen, staff, patient, api, data, field):
    base = {
        "patient": str(patient.id),
        "kind": "emergency",
        "name": "Dana",
        "relationship": "Spouse",
        "phone": "+16175550111",
    }
    response = api(staff["front_desk"]).post(CONTACTS, {**base, **data}, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not PatientContact.objects.exists()


def test_a_support_contact_may_have_only_an_email(frozen, staff, patient, api):
    response = api(staff["front_desk"]).post(
        CONTACTS,
        {"patient": str(patient.id), "kind": "support", "name": "Robin", "relationship": "Sponsor", "email": "r@x.org"},
        format="json",
    )

    assert response.status_code == 201, response.content


def test_contacts_are_updated_and_removed_with_an_audit_trail(frozen, staff, patient, api, audit):
    contact = PatientContactFactory(patient=patient, may_contact=True)

    changed = api(staff["front_desk"]).patch(f"{CONTACTS}{contact.id}/", {"may_contact": False}, format="json")
    removed = api(staff["front_desk"]).delete(f"{CONTACTS}{contact.id}/")

    assert changed.status_code == 200
    assert changed.json()["may_contact"] is False
    assert removed.status_code == 204
    assert not PatientContact.objects.exists()
    assert audit(action="update", object_id=str(contact.id)).get().detail == {"fields": ["may_contact"]}
    deleted = audit(action="delete", object_id=str(contact.id)).get()
    assert deleted.patient_id == patient.id


# Roles


@pytest.mark.parametrize("url", [HISTORY, CONDITIONS, ALLERGIES])
def test_front_desk_and_clinic_admin_read_no_clinical_history(frozen, staff, patient, api, url):
    makers = {HISTORY: SubstanceUseHistoryFactory, CONDITIONS: CoOccurringConditionFactory, ALLERGIES: AllergyFactory}
    record = makers[url](patient=patient)

    for role in ("front_desk", "clinic_admin"):
        client = api(staff[role])
        assert client.get(url, {"patient": str(patient.id)}).status_code == 403, role
        assert client.get(f"{url}{record.id}/").status_code == 403, role
        assert client.post(url, {"patient": str(patient.id)}, format="json").status_code == 403, role
        assert client.patch(f"{url}{record.id}/", {}, format="json").status_code == 403, role


@pytest.mark.parametrize("url", [HISTORY, CONDITIONS, ALLERGIES])
@pytest.mark.parametrize("role", ["physician", "nurse", "counselor", "case_manager"])
def test_clinicians_read_the_clinical_parts(frozen, staff, patient, api, url, role):
    assert api(staff[role]).get(url, {"patient": str(patient.id)}).status_code == 200


def test_clinic_admin_does_not_see_contacts_but_front_desk_does(frozen, staff, patient, api):
    PatientContactFactory(patient=patient)

    assert api(staff["clinic_admin"]).get(CONTACTS).status_code == 403
    assert len(api(staff["front_desk"]).get(CONTACTS).json()["results"]) == 1


@pytest.mark.parametrize("url", [HISTORY, CONDITIONS, ALLERGIES, CONTACTS])
def test_patients_use_none_of_these_routes(frozen, patient, api, url):
    assert api(patient.user).get(url).status_code == 403


# Scope


RECORDS = [
    (HISTORY, SubstanceUseHistoryFactory, history_payload),
    (CONDITIONS, CoOccurringConditionFactory, lambda p: {"patient": str(p.id), "name": "Anxiety"}),
    (ALLERGIES, AllergyFactory, lambda p: {"patient": str(p.id), "substance": "Latex"}),
    (
        CONTACTS,
        PatientContactFactory,
        lambda p: {"patient": str(p.id), "kind": "emergency", "name": "X", "relationship": "Y", "phone": "6175550111"},
    ),
]


@pytest.mark.parametrize(
    ("url", "factory", "make_payload"), RECORDS, ids=["history", "conditions", "allergies", "contacts"]
)
def test_other_facility_staff_get_404_and_write_nothing(
    frozen, staff, other_staff, patient, api, audit, url, factory, make_payload
):
    record = factory(patient=patient)
    model = type(record)
    before = model.objects.filter(pk=record.pk).values().get()
    outsider = api(other_staff["nurse"])

    assert outsider.get(f"{url}{record.id}/").status_code == 404
    assert outsider.patch(f"{url}{record.id}/", {"notes": "x", "name": "x"}, format="json").status_code == 404
    assert str(record.id) not in str(outsider.get(url).json())
    assert str(record.id) not in str(outsider.get(url, {"patient": str(patient.id)}).json())
    created = outsider.post(url, make_payload(patient), format="json")
    assert created.status_code == 404
    assert created.json()["error"]["code"] == "not_found"

    assert model.objects.count() == 1
    assert model.objects.filter(pk=record.pk).values().get() == before
    assert not audit(patient_id=patient.id).exists()


# Query counts


@pytest.mark.parametrize(
    ("url", "factory"), [(u, f) for u, f, _ in RECORDS], ids=["history", "conditions", "allergies", "contacts"]
)
def test_list_query_count_does_not_grow_with_the_page(
    frozen, staff, facility, assert_constant_list_queries, url, factory
):
    patients = PatientFactory.create_batch(5, facility=facility)
    for index in range(50):
        factory(patient=patients[index % 5])

    assert_constant_list_queries(staff["nurse"], url, bound=6)
