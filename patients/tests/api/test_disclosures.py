"""The accounting of disclosures: recording a disclosure under a 42 CFR Part 2 consent (checked, locked,
audited, with the redisclosure notice and a summary of the consent), reading it back, and who may do what."""

import datetime
import uuid

import pytest
import time_machine

from patients.disclosure import REDISCLOSURE_NOTICE
from patients.models import Disclosure
from patients.tests.factories import DisclosureConsentFactory, DisclosureFactory, PatientFactory

NOW = datetime.datetime(2026, 3, 10, 15, 0, tzinfo=datetime.UTC)
URL = "/api/v1/disclosures/"
PCP = "Dr. Sam Rivera, Family Health Clinic"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def consent(patient):
    return DisclosureConsentFactory(
        patient=patient,
        information_categories=["attendance", "medications"],
        signed_at=NOW - datetime.timedelta(days=2),
        expires_at=NOW + datetime.timedelta(days=90),
    )


def payload(under, **overrides) -> dict:
    data = {
        "consent": str(under.id),
        "recipient": PCP,
        "information_categories": ["attendance"],
        "purpose": "care_coordination",
        "description": "Attendance, 1 January to 9 March 2026 (2 pages)",
        "method": "fax",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def detail(disclosure) -> str:
    return f"{URL}{disclosure.id}/"


# Recording


def test_a_case_manager_records_a_disclosure_with_the_notice_and_the_consent_summary(
    staff, patient, consent, api, audit
):
    response = api(staff["case_manager"]).post(
        URL, payload(consent, recipient="  dr. sam rivera, family health clinic"), format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["patient"] == str(patient.id)
    assert body["consent"] == str(consent.id)
    assert body["recipient"] == PCP  # as the consent names them
    assert (body["information_categories"], body["purpose"], body["method"]) == (
        ["attendance"],
        "care_coordination",
        "fax",
    )
    assert body["disclosed_at"] == "2026-03-10T15:00:00Z"
    assert body["disclosed_by"] == staff["case_manager"].username
    assert body["notice"] == REDISCLOSURE_NOTICE
    assert "42 CFR part 2" in body["notice"]
    assert "general authorization" in body["notice"]
    assert "criminally investigate or prosecute" in body["notice"]
    summary = body["consent_summary"]
    assert summary["consent"] == str(consent.id)
    assert summary["recipients"] == [PCP]
    assert summary["information_categories"] == ["attendance", "medications"]
    assert summary["purpose"] == "care_coordination"
    assert summary["disclosing_party"] == consent.disclosing_party
    assert summary["signed_by_name"] == consent.signed_by_name
    assert summary["signed_at"] == "2026-03-08T15:00:00Z"
    assert summary["expires_at"] == "2026-06-08T15:00:00Z"

    event = audit(action="disclose", patient_id=patient.id).get()
    assert event.actor == staff["case_manager"]
    assert event.model == "patients.disclosure"
    assert event.object_id == body["id"]
    assert event.detail["consent"] == str(consent.id)
    assert PCP not in str(event.detail)


def test_the_summary_stays_as_it_was_when_the_consent_is_revoked_later(staff, consent, api):
    created = api(staff["physician"]).post(URL, payload(consent), format="json").json()
    api(staff["physician"]).post(f"/api/v1/disclosure-consents/{consent.id}/revoke/")

    again = api(staff["physician"]).get(f"{URL}{created['id']}/").json()

    assert again["consent_summary"] == created["consent_summary"]
    assert "revoked_at" not in again["consent_summary"]


def test_a_disclosure_made_earlier_is_recorded_at_its_time(staff, consent, api):
    response = api(staff["physician"]).post(URL, payload(consent, disclosed_at="2026-03-09T10:00:00Z"), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["disclosed_at"] == "2026-03-09T10:00:00Z"


def test_all_records_on_the_consent_allows_any_kind_of_information(staff, patient, api):
    consent = DisclosureConsentFactory(patient=patient, information_categories=["all_records"])

    response = api(staff["physician"]).post(
        URL, payload(consent, information_categories=["drug_screens", "diagnoses"]), format="json"
    )

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("overrides", "status", "code", "field"),
    [
        ({"recipient": "Acme Insurance"}, 400, "recipient_not_named", "recipient"),
        ({"information_categories": ["attendance", "drug_screens"]}, 400, "information_not_covered", None),
        ({"purpose": "employment"}, 400, "purpose_not_covered", "purpose"),
        ({"disclosed_at": "2026-03-10T15:00:01Z"}, 400, "invalid", "disclosed_at"),
        ({"disclosed_at": "2026-03-01T00:00:00Z"}, 409, "not_yet_signed", "disclosed_at"),
        ({"method": "pigeon"}, 400, "invalid", "method"),
        ({"description": ""}, 400, "invalid", "description"),
        ({"information_categories": []}, 400, "invalid", None),
        ({"consent": None}, 400, "invalid", "consent"),
    ],
)
def test_a_disclosure_the_consent_does_not_cover_is_refused_naming_the_field(
    staff, consent, api, audit, overrides, status, code, field
):
    field = field or "information_categories"

    response = api(staff["physician"]).post(URL, payload(consent, **overrides), format="json")

    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert any(name.split(".")[0] == field for name in error["fields"]), error
    assert not Disclosure.objects.exists()
    assert not audit(action="disclose").exists()


def test_a_revoked_consent_is_a_conflict(staff, consent, api):
    api(staff["physician"]).post(f"/api/v1/disclosure-consents/{consent.id}/revoke/")

    response = api(staff["physician"]).post(URL, payload(consent), format="json")

    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "consent_revoked"
    assert "consent" in response.json()["error"]["fields"]
    assert not Disclosure.objects.exists()


def test_an_expired_consent_is_a_conflict(staff, consent, api):
    with time_machine.travel(consent.expires_at, tick=False):
        response = api(staff["physician"]).post(URL, payload(consent), format="json")

    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "consent_expired"
    assert "consent" in response.json()["error"]["fields"]
    assert not Disclosure.objects.exists()


@pytest.mark.parametrize("role", ["nurse", "counselor", "front_desk", "clinic_admin"])
def test_roles_that_do_not_release_records_may_not_record_a_disclosure(staff, consent, api, role):
    response = api(staff[role]).post(URL, payload(consent), format="json")

    assert response.status_code == 403
    assert not Disclosure.objects.exists()


def test_a_patient_reads_their_own_accounting_but_records_nothing(patient, other_patient, consent, api):
    mine = DisclosureFactory(patient=patient, consent=consent)
    theirs = DisclosureFactory(patient=other_patient)
    client = api(patient.user)

    assert [row["id"] for row in client.get(URL).json()["results"]] == [str(mine.id)]
    assert client.get(detail(mine)).status_code == 200
    assert client.get(detail(theirs)).status_code == 404
    assert client.post(URL, payload(consent), format="json").status_code == 403
    assert Disclosure.objects.count() == 2


def test_idempotency_key_retry_returns_the_same_disclosure(staff, consent, api, audit):
    client = api(staff["case_manager"])
    headers = {"Idempotency-Key": "fax-2026-03-10-1"}

    first = client.post(URL, payload(consent), format="json", headers=headers)
    retry = client.post(URL, payload(consent), format="json", headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry["Idempotent-Replayed"] == "true"
    assert Disclosure.objects.count() == 1
    assert audit(action="disclose").count() == 1


def test_another_facility_sees_nothing_and_cannot_disclose(staff, other_staff, patient, consent, api, audit):
    disclosure = DisclosureFactory(patient=patient, consent=consent)
    outsider = api(other_staff["physician"])

    assert outsider.get(detail(disclosure)).status_code == 404
    assert outsider.get(URL).json()["results"] == []
    assert outsider.get(URL, {"patient": str(patient.id)}).json()["results"] == []
    refused = outsider.post(URL, payload(consent), format="json")
    assert refused.status_code == 404
    assert outsider.post(URL, payload(consent, consent=str(uuid.uuid4())), format="json").status_code == 404
    assert Disclosure.objects.count() == 1
    assert not audit(patient_id=patient.id).exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_the_accounting_is_append_only(staff, patient, consent, api, method):
    disclosure = DisclosureFactory(patient=patient, consent=consent)

    response = getattr(api(staff["physician"]), method)(detail(disclosure), {"method": "mail"}, format="json")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert Disclosure.objects.get().method == "fax"


def test_anonymous_callers_are_asked_to_authenticate(patient, consent, api):
    disclosure = DisclosureFactory(patient=patient, consent=consent)

    assert api().patch(detail(disclosure), {}, format="json").status_code == 401


# Reading


def test_staff_read_a_disclosure_and_the_read_is_audited(staff, patient, consent, api, audit):
    disclosure = DisclosureFactory(patient=patient, consent=consent)

    response = api(staff["nurse"]).get(detail(disclosure))

    assert response.status_code == 200
    assert response.json()["notice"] == REDISCLOSURE_NOTICE
    assert response.json()["consent_summary"]["consent"] == str(consent.id)
    assert audit(action="view", object_id=str(disclosure.id), patient_id=patient.id).exists()


def test_list_filters(staff, patient, other_patient, consent, api):
    early = DisclosureFactory(patient=patient, consent=consent, disclosed_at=NOW - datetime.timedelta(days=10))
    late = DisclosureFactory(patient=patient, consent=consent, disclosed_at=NOW - datetime.timedelta(hours=1))
    elsewhere = DisclosureFactory(patient=other_patient)
    client = api(staff["counselor"])

    def ids(**params):
        response = client.get(URL, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {str(early.id), str(late.id), str(elsewhere.id)}
    assert ids(patient=str(patient.id)) == {str(early.id), str(late.id)}
    assert ids(consent=str(elsewhere.consent_id)) == {str(elsewhere.id)}
    assert ids(disclosed_since="2026-03-05T00:00:00Z") == {str(late.id), str(elsewhere.id)}
    assert ids(disclosed_before="2026-03-05T00:00:00Z") == {str(early.id)}
    assert ids(disclosed_since="2026-03-05T00:00:00+05:00", patient=str(patient.id)) == {str(late.id)}
    assert ids(updated_since="2026-03-11T00:00:00Z") == set()
    bad = client.get(URL, {"disclosed_since": "yesterday"})
    assert bad.status_code == 400
    assert "disclosed_since" in bad.json()["error"]["fields"]


def test_front_desk_and_clinic_admin_do_not_read_the_accounting(staff, patient, consent, api):
    disclosure = DisclosureFactory(patient=patient, consent=consent)

    for role in ("front_desk", "clinic_admin"):
        assert api(staff[role]).get(URL).status_code == 403
        assert api(staff[role]).get(detail(disclosure)).status_code == 403


def test_list_queries_do_not_grow_with_the_rows(staff, facility, assert_same_budget_for_3_and_15_rows):
    def make_row():
        DisclosureFactory(patient=PatientFactory(facility=facility))

    assert_same_budget_for_3_and_15_rows(staff["nurse"], URL, make_row, bound=6)
