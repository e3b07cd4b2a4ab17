"""The patient admin: the same scope, role limits, services and read auditing as the API."""

import datetime

import pytest
from django.test import Client

from clinic.audit.models import AuditEvent
from patients.disclosure import REDISCLOSURE_NOTICE
from patients.models import (
    CommunicationConsent,
    Disclosure,
    DisclosureConsent,
    Patient,
    PatientContact,
    SubstanceUseHistory,
)
from patients.tests.factories import (
    CommunicationConsentFactory,
    DisclosureConsentFactory,
    DisclosureFactory,
    PatientContactFactory,
    PatientFactory,
    SubstanceUseHistoryFactory,
)

CLINICAL_PREFIXES = ["substance_use_history", "conditions", "allergies", "disclosure_consents"]
DEMOGRAPHIC_PREFIXES = ["contacts", "communication_consents"]


@pytest.fixture
def admin_client():
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def management(prefixes, rows=None) -> dict:
    """Inline formset management fields: no rows, except `rows` = {prefix: [row dict, ...]} (new rows)."""
    data = {}
    rows = rows or {}
    for prefix in prefixes:
        new_rows = rows.get(prefix, [])
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": str(len(new_rows)),
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
        for index, row in enumerate(new_rows):
            data.update({f"{prefix}-{index}-{name}": value for name, value in row.items()})
    return data


def patient_form(**overrides) -> dict:
    data = {
        "first_name": "Alex",
        "last_name": "Rivera",
        "date_of_birth": "1990-03-04",
        "sex": "male",
        "phone": "617 555 0199",
        "email": "",
        "timezone": "America/New_York",
        "preferred_channel": "sms",
        "quiet_hours_start": "",
        "quiet_hours_end": "",
        "status": "active",
    }
    data.update(overrides)
    return data


def change_url(patient) -> str:
    return f"/admin/patients/patient/{patient.id}/change/"


def test_front_desk_registers_a_patient_with_a_contact_through_the_services(staff, facility, admin_client):
    contact = {"kind": "emergency", "name": "Dana", "relationship": "Spouse", "phone": "617-555-0111"}
    data = {**patient_form(facility=str(facility.id)), **management(DEMOGRAPHIC_PREFIXES, {"contacts": [contact]})}

    response = admin_client(staff["front_desk"]).post("/admin/patients/patient/add/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    patient = Patient.objects.get()
    assert patient.mrn == "DRC-000001"
    assert patient.phone == "+16175550199"
    saved = PatientContact.objects.get()
    assert (saved.patient, saved.phone) == (patient, "+16175550111")
    creations = AuditEvent.objects.filter(action="create", source="admin", patient_id=patient.id)
    assert set(creations.values_list("model", flat=True)) == {"patients.patient", "patients.patientcontact"}


def test_a_possible_duplicate_needs_confirmation_in_the_admin(staff, facility, admin_client):
    existing = PatientFactory(facility=facility, last_name="Rivera", date_of_birth=datetime.date(1990, 3, 4))
    data = {**patient_form(facility=str(facility.id)), **management(DEMOGRAPHIC_PREFIXES)}
    client = admin_client(staff["front_desk"])

    refused = client.post("/admin/patients/patient/add/", data)
    confirmed = client.post("/admin/patients/patient/add/", {**data, "confirm_new_person": "on"})

    assert refused.status_code == 200
    assert existing.mrn in str(refused.context["adminform"].form.non_field_errors())
    assert confirmed.status_code == 302
    assert Patient.objects.count() == 2


def test_an_invalid_phone_is_a_form_error_not_a_crash(staff, facility, admin_client):
    data = {**patient_form(facility=str(facility.id), phone="555"), **management(DEMOGRAPHIC_PREFIXES)}

    response = admin_client(staff["front_desk"]).post("/admin/patients/patient/add/", data)

    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert not Patient.objects.exists()


def test_front_desk_sees_no_clinical_inlines(staff, patient, admin_client):
    SubstanceUseHistoryFactory(patient=patient, notes="kratom tea")
    DisclosureConsentFactory(patient=patient)
    PatientContactFactory(patient=patient, name="Dana Contact")

    response = admin_client(staff["front_desk"]).get(change_url(patient))

    assert response.status_code == 200
    prefixes = {formset.formset.prefix for formset in response.context["inline_admin_formsets"]}
    assert prefixes == set(DEMOGRAPHIC_PREFIXES)
    assert b"kratom tea" not in response.content
    assert b"Dana Contact" in response.content


def test_a_clinician_sees_every_inline_and_each_row_shown_is_audited(staff, patient, admin_client):
    entry = SubstanceUseHistoryFactory(patient=patient, notes="kratom tea")
    consent = DisclosureConsentFactory(patient=patient)
    contact = PatientContactFactory(patient=patient)

    response = admin_client(staff["nurse"]).get(change_url(patient))

    assert response.status_code == 200
    prefixes = {formset.formset.prefix for formset in response.context["inline_admin_formsets"]}
    assert prefixes == set(CLINICAL_PREFIXES + DEMOGRAPHIC_PREFIXES)
    assert b"kratom tea" in response.content
    viewed = set(
        AuditEvent.objects.filter(action="view", source="admin", actor=staff["nurse"]).values_list(
            "object_id", flat=True
        )
    )
    assert {str(patient.id), str(entry.id), str(consent.id), str(contact.id)} <= viewed


def test_a_clinician_adds_history_in_the_admin_through_the_service(staff, patient, admin_client):
    row = {
        "substance": "kratom",
        "route": "oral",
        "amount": "10",
        "amount_unit": "g",
        "frequency": "daily",
        "last_use_0": "2026-01-02",
        "last_use_1": "08:00:00",
    }
    data = {
        **patient_form(first_name=patient.first_name, last_name=patient.last_name, date_of_birth="1985-05-17"),
        **management(CLINICAL_PREFIXES + DEMOGRAPHIC_PREFIXES, {"substance_use_history": [row]}),
    }

    response = admin_client(staff["nurse"]).post(change_url(patient), data)

    assert response.status_code == 302
    entry = SubstanceUseHistory.objects.get()
    assert entry.patient == patient
    assert entry.last_use == datetime.datetime(2026, 1, 2, 8, tzinfo=datetime.UTC)
    assert AuditEvent.objects.filter(action="create", model="patients.substanceusehistory", source="admin").exists()
    assert AuditEvent.objects.filter(action="update", object_id=str(patient.id), source="admin").exists()


def test_communication_consents_are_append_only_in_the_admin(staff, patient, admin_client):
    CommunicationConsentFactory(patient=patient, channel="sms", action="opt_in")
    data = {
        **patient_form(first_name=patient.first_name, last_name=patient.last_name, date_of_birth="1985-05-17"),
        **management(DEMOGRAPHIC_PREFIXES),
        "communication_consents-INITIAL_FORMS": "1",
        "communication_consents-TOTAL_FORMS": "2",
        "communication_consents-0-id": str(CommunicationConsent.objects.get().id),
        "communication_consents-0-action": "opt_out",
        "communication_consents-1-channel": "sms",
        "communication_consents-1-action": "opt_out",
        "communication_consents-1-source": "verbal",
        "communication_consents-1-occurred_at_0": "2026-01-03",
        "communication_consents-1-occurred_at_1": "10:00:00",
        "communication_consents-1-note": "Said so at the desk",
    }

    response = admin_client(staff["front_desk"]).post(change_url(patient), data)

    assert response.status_code == 302
    actions = sorted(CommunicationConsent.objects.values_list("action", flat=True))
    assert actions == ["opt_in", "opt_out"]
    assert CommunicationConsent.objects.get(action="opt_out").recorded_by == staff["front_desk"]


def test_other_facility_staff_cannot_open_the_record(other_staff, patient, admin_client):
    response = admin_client(other_staff["nurse"]).get(change_url(patient))

    assert response.status_code == 302
    assert not AuditEvent.objects.filter(patient_id=patient.id).exists()


def test_patient_admin_search_and_filters(staff, facility, admin_client):
    match = PatientFactory(facility=facility, last_name="Zephyr", mrn="DRC-000777")
    other = PatientFactory(facility=facility, last_name="Quill", status=Patient.Status.INACTIVE)
    client = admin_client(staff["front_desk"])

    by_name = client.get("/admin/patients/patient/", {"q": "zephyr"})
    by_mrn = client.get("/admin/patients/patient/", {"q": "DRC-000777"})
    inactive = client.get("/admin/patients/patient/", {"status__exact": "inactive"})

    assert list(by_name.context["cl"].result_list) == [match]
    assert list(by_mrn.context["cl"].result_list) == [match]
    assert list(inactive.context["cl"].result_list) == [other]


# Disclosure consents


def test_disclosure_consent_admin_is_clinical_scoped_and_revokes_through_the_service(
    staff, other_staff, patient, admin_client
):
    consent = DisclosureConsentFactory(patient=patient)
    url = "/admin/patients/disclosureconsent/"

    assert admin_client(staff["front_desk"]).get(url).status_code == 403
    assert consent not in admin_client(other_staff["nurse"]).get(url).context["cl"].result_list
    response = admin_client(staff["nurse"]).post(
        url, {"action": "revoke_selected", "_selected_action": [str(consent.id)]}
    )

    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.revoked_by == staff["nurse"]
    assert AuditEvent.objects.filter(action="revoke", object_id=str(consent.id), source="admin").exists()


def test_a_disclosure_consent_is_recorded_in_the_admin(staff, patient, admin_client):
    now = datetime.datetime.now(tz=datetime.UTC)
    data = {
        "patient": str(patient.id),
        "disclosing_party": "Demo Recovery Center",
        "information_categories": ["attendance", "diagnoses"],
        "information_description": "Attendance and diagnoses",
        "recipients": "Dr. Sam Rivera, Family Health Clinic\nCounty Court",
        "purpose": "legal",
        "purpose_description": "",
        "right_to_revoke_acknowledged": "on",
        "expires_at_0": (now + datetime.timedelta(days=30)).date().isoformat(),
        "expires_at_1": "00:00:00",
        "expiry_event": "",
        "signed_by_name": "Pat",
        "signer_role": "patient",
        "signed_at_0": (now - datetime.timedelta(days=1)).date().isoformat(),
        "signed_at_1": "12:00:00",
    }

    response = admin_client(staff["case_manager"]).post("/admin/patients/disclosureconsent/add/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    consent = DisclosureConsent.objects.get()
    assert consent.recipients == ["Dr. Sam Rivera, Family Health Clinic", "County Court"]
    assert consent.recorded_by == staff["case_manager"]
    assert AuditEvent.objects.filter(action="create", object_id=str(consent.id), source="admin").exists()


def test_contacts_are_edited_and_removed_inline_through_the_services(staff, patient, admin_client):
    kept = PatientContactFactory(patient=patient, name="Dana", relationship="Spouse", phone="+16175550111")
    dropped = PatientContactFactory(patient=patient, name="Old Friend", kind="support", phone="+16175550112")
    data = {
        **patient_form(first_name=patient.first_name, last_name=patient.last_name, date_of_birth="1985-05-17"),
        **management(DEMOGRAPHIC_PREFIXES),
        "contacts-INITIAL_FORMS": "2",
        "contacts-TOTAL_FORMS": "2",
    }
    for index, contact in enumerate([kept, dropped]):
        data.update(
            {
                f"contacts-{index}-id": str(contact.id),
                f"contacts-{index}-patient": str(patient.id),
                f"contacts-{index}-kind": contact.kind,
                f"contacts-{index}-name": contact.name,
                f"contacts-{index}-relationship": contact.relationship,
                f"contacts-{index}-phone": contact.phone,
                f"contacts-{index}-email": "",
                f"contacts-{index}-may_contact": "on",
                f"contacts-{index}-notes": "",
            }
        )
    data["contacts-0-phone"] = "(617) 555-0100"
    data["contacts-1-DELETE"] = "on"

    response = admin_client(staff["front_desk"]).post(change_url(patient), data)

    assert response.status_code == 302
    assert list(PatientContact.objects.values_list("id", "phone")) == [(kept.id, "+16175550100")]
    events = AuditEvent.objects.filter(source="admin", patient_id=patient.id)
    assert events.get(action="update", object_id=str(kept.id)).detail == {"fields": ["phone"]}
    assert events.filter(action="delete", object_id=str(dropped.id)).exists()


def test_revoking_an_already_revoked_consent_in_the_admin_warns_and_changes_nothing(staff, patient, admin_client):
    consent = DisclosureConsentFactory(patient=patient)
    client = admin_client(staff["nurse"])
    selection = {"action": "revoke_selected", "_selected_action": [str(consent.id)]}
    client.post("/admin/patients/disclosureconsent/", selection)
    consent.refresh_from_db()
    first_revocation = consent.revoked_at

    response = client.post("/admin/patients/disclosureconsent/", selection, follow=True)

    consent.refresh_from_db()
    assert consent.revoked_at == first_revocation
    assert "already revoked" in response.content.decode()
    assert AuditEvent.objects.filter(action="revoke", object_id=str(consent.id)).count() == 1


# The accounting of disclosures

DISCLOSURES = "/admin/patients/disclosure/"


def disclosure_form(consent, **overrides) -> dict:
    data = {
        "consent": str(consent.id),
        "recipient": consent.recipients[0],
        "information_categories": ["attendance"],
        "purpose": consent.purpose,
        "description": "Attendance record (2 pages)",
        "method": "mail",
        "disclosed_at_0": "",
        "disclosed_at_1": "",
    }
    data.update(overrides)
    return data


def test_a_disclosure_is_recorded_in_the_admin_through_the_service(staff, patient, admin_client):
    consent = DisclosureConsentFactory(patient=patient)

    response = admin_client(staff["physician"]).post(f"{DISCLOSURES}add/", disclosure_form(consent))

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    disclosure = Disclosure.objects.get()
    assert (disclosure.patient, disclosure.consent, disclosure.disclosed_by) == (patient, consent, staff["physician"])
    assert disclosure.notice == REDISCLOSURE_NOTICE
    assert disclosure.consent_summary["consent"] == str(consent.id)
    assert AuditEvent.objects.filter(action="disclose", object_id=str(disclosure.id), source="admin").exists()


def test_a_disclosure_the_consent_does_not_cover_is_a_form_error_in_the_admin(staff, patient, admin_client):
    consent = DisclosureConsentFactory(patient=patient)
    revoked = DisclosureConsentFactory(patient=patient, revoked_at=datetime.datetime.now(tz=datetime.UTC))
    client = admin_client(staff["case_manager"])

    stranger = client.post(f"{DISCLOSURES}add/", disclosure_form(consent, recipient="Acme Insurance"))
    too_late = client.post(f"{DISCLOSURES}add/", disclosure_form(revoked))

    assert stranger.status_code == 200
    assert "recipient" in stranger.context["adminform"].form.errors
    assert too_late.status_code == 200
    assert "consent" in too_late.context["adminform"].form.errors
    assert not Disclosure.objects.exists()


def test_the_admin_offers_only_consents_in_scope(staff, other_staff, patient, admin_client):
    consent = DisclosureConsentFactory(patient=patient)

    response = admin_client(other_staff["physician"]).post(f"{DISCLOSURES}add/", disclosure_form(consent))

    assert response.status_code == 200
    assert "consent" in response.context["adminform"].form.errors
    assert not Disclosure.objects.exists()


def test_disclosures_are_read_only_in_the_admin(staff, patient, admin_client):
    disclosure = DisclosureFactory(patient=patient)
    change = f"{DISCLOSURES}{disclosure.id}/change/"
    nurse = admin_client(staff["nurse"])
    physician = admin_client(staff["physician"])

    assert nurse.get(change).status_code == 200
    assert nurse.get(f"{DISCLOSURES}add/").status_code == 403
    assert physician.post(change, {"method": "phone"}).status_code == 403
    assert physician.post(f"{DISCLOSURES}{disclosure.id}/delete/", {"post": "yes"}).status_code == 403
    disclosure.refresh_from_db()
    assert disclosure.method == "fax"
    assert admin_client(staff["front_desk"]).get(DISCLOSURES).status_code == 403


def test_disclosure_admin_search_and_filters(staff, facility, admin_client):
    defendant = PatientFactory(facility=facility)
    court = DisclosureFactory(
        patient=defendant,
        consent=DisclosureConsentFactory(patient=defendant, recipients=["County Court"], purpose="legal"),
    )
    doctor = DisclosureFactory(patient=PatientFactory(facility=facility))
    client = admin_client(staff["counselor"])

    by_search = client.get(DISCLOSURES, {"q": "county"})
    by_recipient = client.get(DISCLOSURES, {"recipient": doctor.recipient})
    by_purpose = client.get(DISCLOSURES, {"purpose__exact": "legal"})

    assert list(by_search.context["cl"].result_list) == [court]
    assert list(by_recipient.context["cl"].result_list) == [doctor]
    assert list(by_purpose.context["cl"].result_list) == [court]
