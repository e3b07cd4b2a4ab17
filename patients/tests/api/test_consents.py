"""Communication consents (per channel, append-only) and 42 CFR Part 2 disclosure consents (record, revoke,
and "may this be disclosed to X for Y now")."""

import datetime

import pytest
import time_machine

from patients.models import CommunicationConsent, DisclosureConsent
from patients.selectors import patient_consented_channels
from patients.tests.factories import CommunicationConsentFactory, DisclosureConsentFactory, PatientFactory

NOW = datetime.datetime(2026, 3, 10, 15, 0, tzinfo=datetime.UTC)
COMMS = "/api/v1/communication-consents/"
DISCLOSURES = "/api/v1/disclosure-consents/"
CHECK = f"{DISCLOSURES}check/"
PCP = "Dr. Sam Rivera, Family Health Clinic"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def revoke_url(consent) -> str:
    return f"{DISCLOSURES}{consent.id}/revoke/"


# Communication consents


def test_front_desk_records_a_signed_sms_opt_in(staff, patient, api, audit):
    response = api(staff["front_desk"]).post(
        COMMS,
        {"patient": str(patient.id), "channel": "sms", "action": "opt_in", "source": "paper_form"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["channel"], body["action"], body["source"]) == ("sms", "opt_in", "paper_form")
    assert body["occurred_at"] == "2026-03-10T15:00:00Z"
    assert body["recorded_by"] == staff["front_desk"].username
    assert patient_consented_channels(patient) == {"sms"}
    assert audit(action="create", model="patients.communicationconsent", patient_id=patient.id).exists()


def test_a_patient_opts_out_in_the_app_and_the_opt_in_stays_in_the_history(staff, patient, api):
    CommunicationConsentFactory(patient=patient, channel="sms", occurred_at=NOW - datetime.timedelta(days=3))

    response = api(patient.user).post(COMMS, {"channel": "sms", "action": "opt_out"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["source"] == "patient_app"
    assert response.json()["patient"] == str(patient.id)
    assert patient_consented_channels(patient) == set()
    history = api(patient.user).get(COMMS, {"channel": "sms"}).json()["results"]
    assert sorted(row["action"] for row in history) == ["opt_in", "opt_out"]


def test_a_patient_records_only_their_own_choices(patient, other_patient, api):
    response = api(patient.user).post(
        COMMS, {"patient": str(other_patient.id), "channel": "sms", "action": "opt_in"}, format="json"
    )

    assert response.status_code == 404
    assert not CommunicationConsent.objects.exists()


@pytest.mark.parametrize(
    ("who", "data", "field"),
    [
        ("staff", {"source": None}, "source"),
        ("staff", {"source": "patient_app"}, "source"),
        ("staff", {"patient": None}, "patient"),
        ("staff", {"channel": "fax"}, "channel"),
        ("staff", {"channel": "none"}, "channel"),
        ("staff", {"action": "maybe"}, "action"),
        ("staff", {"occurred_at": "2026-03-11T00:00:00Z"}, "occurred_at"),
        ("patient", {"source": "paper_form", "patient": None}, "source"),
        ("patient", {"channel": None, "patient": None}, "channel"),
    ],
)
def test_communication_consent_validation_errors_name_the_field(staff, patient, api, who, data, field):
    body = {"patient": str(patient.id), "channel": "sms", "action": "opt_in", "source": "verbal", **data}
    body = {name: value for name, value in body.items() if value is not None}
    user = staff["front_desk"] if who == "staff" else patient.user

    response = api(user).post(COMMS, body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not CommunicationConsent.objects.exists()


def test_communication_consents_cannot_be_edited_or_deleted(staff, patient, api):
    consent = CommunicationConsentFactory(patient=patient)

    # No route changes one: an unmapped method has no rule in the role table, so it is refused (fail closed).
    assert api(staff["front_desk"]).patch(f"{COMMS}{consent.id}/", {"action": "opt_out"}).status_code == 403
    assert api(staff["front_desk"]).delete(f"{COMMS}{consent.id}/").status_code == 403
    assert CommunicationConsent.objects.get().action == "opt_in"


def test_clinic_admin_does_not_handle_communication_consents(staff, patient, api):
    assert api(staff["clinic_admin"]).get(COMMS).status_code == 403


def test_communication_consents_are_scoped(staff, other_staff, patient, other_patient, api, audit):
    consent = CommunicationConsentFactory(patient=patient)

    outsider = api(other_staff["front_desk"])
    assert outsider.get(f"{COMMS}{consent.id}/").status_code == 404
    assert outsider.get(COMMS).json()["results"] == []
    blocked = outsider.post(
        COMMS, {"patient": str(patient.id), "channel": "email", "action": "opt_in", "source": "verbal"}
    )
    assert blocked.status_code == 404
    assert api(other_patient.user).get(f"{COMMS}{consent.id}/").status_code == 404
    assert api(other_patient.user).get(COMMS).json()["results"] == []
    assert CommunicationConsent.objects.count() == 1
    assert not audit(patient_id=patient.id).exists()

    assert api(staff["front_desk"]).get(f"{COMMS}{consent.id}/").status_code == 200
    assert audit(action="view", object_id=str(consent.id)).exists()


def test_communication_consent_list_query_count(staff, facility, assert_constant_list_queries):
    for patient in PatientFactory.create_batch(50, facility=facility):
        CommunicationConsentFactory(patient=patient)

    assert_constant_list_queries(staff["front_desk"], COMMS, bound=6)


# Disclosure consents: recording


def disclosure_payload(of, **overrides):
    data = {
        "patient": str(of.id),
        "information_categories": ["attendance", "medications"],
        "information_description": "Dates of attendance and current medications during this episode of care.",
        "recipients": [PCP],
        "purpose": "care_coordination",
        "right_to_revoke_acknowledged": True,
        "expires_at": "2026-09-10T00:00:00Z",
        "expiry_event": "Discharge from aftercare",
        "signed_by_name": "Jordan Avery",
        "signer_role": "patient",
        "signed_at": "2026-03-10T14:00:00Z",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def test_a_clinician_records_a_consent_with_every_42_cfr_2_31_element(staff, patient, facility, api, audit):
    response = api(staff["case_manager"]).post(DISCLOSURES, disclosure_payload(patient), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["patient"] == str(patient.id)
    assert body["disclosing_party"] == facility.name
    assert body["information_categories"] == ["attendance", "medications"]
    assert body["recipients"] == [PCP]
    assert body["purpose"] == "care_coordination"
    assert body["right_to_revoke_acknowledged"] is True
    assert (body["signed_at"], body["expires_at"]) == ("2026-03-10T14:00:00Z", "2026-09-10T00:00:00Z")
    assert body["recorded_by"] == staff["case_manager"].username
    assert body["in_force"] is True
    assert body["revoked_at"] is None
    assert audit(action="create", model="patients.disclosureconsent", patient_id=patient.id).exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"patient": None}, "patient"),
        ({"information_categories": []}, "information_categories"),
        ({"information_categories": ["everything"]}, "information_categories"),
        ({"information_categories": ["attendance", "attendance"]}, "information_categories"),
        ({"information_description": ""}, "information_description"),
        ({"recipients": []}, "recipients"),
        ({"recipients": ["   "]}, "recipients"),
        ({"purpose": None}, "purpose"),
        ({"purpose": "curiosity"}, "purpose"),
        ({"purpose": "other"}, "purpose_description"),
        ({"right_to_revoke_acknowledged": None}, "right_to_revoke_acknowledged"),
        ({"right_to_revoke_acknowledged": False}, "right_to_revoke_acknowledged"),
        ({"expires_at": None}, "expires_at"),
        ({"expires_at": "2026-03-10T14:30:00Z"}, "expires_at"),
        ({"expires_at": "2026-03-01T00:00:00Z"}, "expires_at"),
        ({"signed_by_name": ""}, "signed_by_name"),
        ({"signer_role": "neighbour"}, "signer_role"),
        ({"signed_at": None}, "signed_at"),
        ({"signed_at": "2026-03-11T00:00:00Z"}, "signed_at"),
    ],
)
def test_disclosure_consent_validation_errors_name_the_field(staff, patient, api, audit, overrides, field):
    response = api(staff["physician"]).post(DISCLOSURES, disclosure_payload(patient, **overrides), format="json")

    assert response.status_code == 400, response.content
    assert any(name.split(".")[0] == field for name in response.json()["error"]["fields"]), response.json()
    assert not DisclosureConsent.objects.exists()
    assert not audit(action="create").exists()


def test_disclosure_consents_cannot_be_edited_or_deleted(staff, patient, api):
    consent = DisclosureConsentFactory(patient=patient)

    assert api(staff["physician"]).patch(f"{DISCLOSURES}{consent.id}/", {"purpose": "legal"}).status_code == 403
    assert api(staff["physician"]).delete(f"{DISCLOSURES}{consent.id}/").status_code == 403
    consent.refresh_from_db()
    assert consent.purpose == "care_coordination"


# Revocation


def test_revoking_keeps_the_consent_with_who_when_and_why(staff, patient, api, audit):
    consent = DisclosureConsentFactory(patient=patient)

    response = api(staff["counselor"]).post(revoke_url(consent), {"reason": "Patient asked in session"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["revoked_at"] == "2026-03-10T15:00:00Z"
    assert body["revoked_by"] == staff["counselor"].username
    assert body["in_force"] is False
    consent.refresh_from_db()
    assert consent.revocation_reason == "Patient asked in session"
    assert DisclosureConsent.objects.filter(pk=consent.pk).exists()
    assert audit(action="revoke", object_id=str(consent.id), actor=staff["counselor"]).exists()
    assert api(staff["counselor"]).get(f"{DISCLOSURES}{consent.id}/").json()["revoked_at"] is not None


def test_revoking_twice_or_after_expiry_is_a_conflict(staff, patient, api):
    consent = DisclosureConsentFactory(patient=patient)
    expired = DisclosureConsentFactory(
        patient=patient, signed_at=NOW - datetime.timedelta(days=60), expires_at=NOW - datetime.timedelta(days=1)
    )
    api(staff["nurse"]).post(revoke_url(consent))

    again = api(staff["nurse"]).post(revoke_url(consent))
    late = api(staff["nurse"]).post(revoke_url(expired))

    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_revoked")
    assert (late.status_code, late.json()["error"]["code"]) == (409, "already_expired")
    expired.refresh_from_db()
    assert expired.revoked_at is None


def test_a_patient_sees_and_revokes_their_own_consents_only(patient, other_patient, api):
    mine = DisclosureConsentFactory(patient=patient)
    theirs = DisclosureConsentFactory(patient=other_patient)

    listed = api(patient.user).get(DISCLOSURES).json()["results"]
    assert [row["id"] for row in listed] == [str(mine.id)]
    assert api(patient.user).get(f"{DISCLOSURES}{theirs.id}/").status_code == 404
    assert api(patient.user).post(revoke_url(theirs)).status_code == 404
    assert api(patient.user).post(revoke_url(mine)).status_code == 200

    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.revoked_at is None
    assert mine.revoked_by == patient.user


def test_a_patient_cannot_record_a_consent_or_ask_the_disclosure_question(patient, api):
    assert api(patient.user).post(DISCLOSURES, disclosure_payload(patient), format="json").status_code == 403
    check = {"patient": str(patient.id), "recipient": PCP, "purpose": "treatment", "information": ["attendance"]}
    assert api(patient.user).post(CHECK, check, format="json").status_code == 403


def test_front_desk_and_clinic_admin_have_no_access_to_disclosure_consents(staff, patient, api):
    consent = DisclosureConsentFactory(patient=patient)
    for role in ("front_desk", "clinic_admin"):
        client = api(staff[role])
        assert client.get(DISCLOSURES).status_code == 403
        assert client.get(f"{DISCLOSURES}{consent.id}/").status_code == 403
        assert client.post(revoke_url(consent)).status_code == 403
        assert client.post(DISCLOSURES, disclosure_payload(patient), format="json").status_code == 403


def test_disclosure_consents_are_scoped(staff, other_staff, patient, api, audit):
    consent = DisclosureConsentFactory(patient=patient)
    outsider = api(other_staff["physician"])

    assert outsider.get(f"{DISCLOSURES}{consent.id}/").status_code == 404
    assert outsider.post(revoke_url(consent)).status_code == 404
    assert outsider.get(DISCLOSURES).json()["results"] == []
    assert outsider.post(DISCLOSURES, disclosure_payload(patient), format="json").status_code == 404
    check = {
        "patient": str(patient.id),
        "recipient": PCP,
        "purpose": "care_coordination",
        "information": ["attendance"],
    }
    assert outsider.post(CHECK, check, format="json").status_code == 404

    consent.refresh_from_db()
    assert consent.revoked_at is None
    assert DisclosureConsent.objects.count() == 1
    assert not audit(patient_id=patient.id).exists()


def test_in_force_filter(staff, patient, api):
    current = DisclosureConsentFactory(patient=patient)
    revoked = DisclosureConsentFactory(patient=patient, revoked_at=NOW - datetime.timedelta(hours=1))
    expired = DisclosureConsentFactory(
        patient=patient, signed_at=NOW - datetime.timedelta(days=9), expires_at=NOW - datetime.timedelta(days=1)
    )

    live = api(staff["nurse"]).get(DISCLOSURES, {"in_force": "true"}).json()["results"]
    ended = api(staff["nurse"]).get(DISCLOSURES, {"in_force": "false"}).json()["results"]

    assert [row["id"] for row in live] == [str(current.id)]
    assert {row["id"] for row in ended} == {str(revoked.id), str(expired.id)}
    assert all(row["in_force"] is False for row in ended)


def test_disclosure_consent_list_query_count(staff, facility, assert_constant_list_queries):
    for patient in PatientFactory.create_batch(50, facility=facility):
        DisclosureConsentFactory(patient=patient, recorded_by=staff["nurse"])

    assert_constant_list_queries(staff["nurse"], DISCLOSURES, bound=6)


# The disclosure question


def ask(api, user, patient, *, recipient=PCP, purpose="care_coordination", information=("attendance",)):
    body = {"patient": str(patient.id), "recipient": recipient, "purpose": purpose, "information": list(information)}
    return api(user).post(CHECK, body, format="json")


def test_a_disclosure_covered_by_a_consent_in_force_is_allowed_and_the_question_is_audited(staff, patient, api, audit):
    consent = DisclosureConsentFactory(patient=patient, information_categories=["attendance", "medications"])

    response = ask(api, staff["case_manager"], patient, information=["medications", "attendance"])

    assert response.status_code == 200, response.content
    assert response.json() == {"allowed": True, "consent": str(consent.id), "reason": "consent_in_force"}
    event = audit(action="disclosure_check", patient_id=patient.id).get()
    assert event.actor == staff["case_manager"]
    assert event.detail["allowed"] is True
    assert event.detail["consent"] == str(consent.id)
    assert PCP not in str(event.detail)


def test_the_recipient_is_matched_ignoring_case_and_spacing(staff, patient, api):
    DisclosureConsentFactory(patient=patient)

    response = ask(api, staff["nurse"], patient, recipient="  dr. sam rivera,   family health clinic ")

    assert response.json()["allowed"] is True


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ({"recipient": "Acme Insurance"}, "recipient_not_named"),
        ({"purpose": "employment"}, "purpose_not_covered"),
        ({"information": ["attendance", "drug_screens"]}, "information_not_covered"),
    ],
)
def test_a_disclosure_outside_the_consent_is_refused_with_the_reason(staff, patient, api, question, reason):
    DisclosureConsentFactory(patient=patient)

    response = ask(api, staff["nurse"], patient, **question)

    assert response.json() == {"allowed": False, "consent": None, "reason": reason}


def test_all_records_covers_any_kind_of_information(staff, patient, api):
    DisclosureConsentFactory(patient=patient, information_categories=["all_records"])

    response = ask(api, staff["nurse"], patient, information=["drug_screens", "diagnoses"])

    assert response.json()["allowed"] is True


def test_no_consent_at_all(staff, patient, api):
    assert ask(api, staff["nurse"], patient).json() == {"allowed": False, "consent": None, "reason": "no_consent"}


def test_a_revoked_consent_no_longer_allows_the_disclosure(staff, patient, api):
    consent = DisclosureConsentFactory(patient=patient)
    assert ask(api, staff["nurse"], patient).json()["allowed"] is True

    api(staff["nurse"]).post(revoke_url(consent))

    assert ask(api, staff["nurse"], patient).json() == {
        "allowed": False,
        "consent": None,
        "reason": "consent_revoked",
    }


def test_a_consent_stops_allowing_at_its_expiry(staff, patient, api):
    DisclosureConsentFactory(patient=patient, expires_at=NOW + datetime.timedelta(hours=2))

    with time_machine.travel(NOW + datetime.timedelta(hours=1, minutes=59), tick=False):
        before = ask(api, staff["nurse"], patient).json()
    with time_machine.travel(NOW + datetime.timedelta(hours=2), tick=False):
        after = ask(api, staff["nurse"], patient).json()

    assert before["allowed"] is True
    assert after == {"allowed": False, "consent": None, "reason": "consent_expired"}


def test_another_consent_in_force_still_allows_after_one_is_revoked(staff, patient, api):
    old = DisclosureConsentFactory(patient=patient, signed_at=NOW - datetime.timedelta(days=30))
    new = DisclosureConsentFactory(patient=patient)
    api(staff["nurse"]).post(revoke_url(old))

    assert ask(api, staff["nurse"], patient).json()["consent"] == str(new.id)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"patient": None}, "patient"),
        ({"patient": "x"}, "patient"),
        ({"recipient": None}, "recipient"),
        ({"recipient": ""}, "recipient"),
        ({"purpose": "gossip"}, "purpose"),
        ({"information": []}, "information"),
        ({"information": ["secrets"]}, "information"),
    ],
)
def test_disclosure_question_validation_names_the_field(staff, patient, api, body, field):
    question = {"patient": str(patient.id), "recipient": PCP, "purpose": "treatment", "information": ["attendance"]}
    question.update(body)
    question = {name: value for name, value in question.items() if value is not None}

    response = api(staff["nurse"]).post(CHECK, question, format="json")

    assert response.status_code == 400
    assert any(name.split(".")[0] == field for name in response.json()["error"]["fields"])
