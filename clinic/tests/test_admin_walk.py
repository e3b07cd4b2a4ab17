"""Walks every model registered in the admin, like clinic/tests/api/test_scope_walk.py walks the API: staff of
another facility find nothing of a patient's record in any list, change page or patient page, and nothing is
written; staff of the patient's facility see it and every read is audited; front desk opens no clinical
page. A new admin page is covered automatically; one whose model has no maker in its app's
SCOPED_OBJECT_MAKERS fails here until it gets one (or is listed below as holding no patient data)."""

import uuid

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from clinic.accounts.roles import PERMISSIONS, Role, role_may
from clinic.admin_scoping import ScopedAdminMixin
from clinic.audit.models import AuditEvent
from clinic.scoping import model_scope
from clinic.tests.api.test_scope_walk import _object_makers
from clinic.tests.factories import UserFactory

# Admin pages outside the clinic's scoping, with the reason.
NOT_PATIENT_DATA = {
    "accounts.facility": "the facilities themselves (clinic admins, their own facilities)",
    "accounts.user": "staff accounts (clinic admins, their own facilities' staff)",
    "accounts.device": "signed-in devices (clinic admins, scoped by clinic.accounts.selectors.device_list)",
    "auth.group": "Django's permission groups (unused: what a role may do comes from the role table)",
    "token_blacklist.outstandingtoken": "JWT bookkeeping (Django permissions: superusers only)",
    "token_blacklist.blacklistedtoken": "JWT bookkeeping (Django permissions: superusers only)",
    "detox.drug": "the drug catalogue, no patient data",
}
# What front desk must never open: clinical records and notes (PRODUCT.md "Who uses it").
CLINICAL_ADMIN_PAGES = {
    "treatment.episode",  # care team, transitions and their reasons (the stage alone is on the patient page)
    "treatment.observation",
    "treatment.assessment",
    "treatment.alert",
    "patients.disclosureconsent",
    "therapy.progressnote",
    "therapy.psychotherapynote",
    "therapy.groupnote",
    "therapy.treatmentplan",
    "detox.detoxcourse",
    "detox.medicationorder",
    "detox.medicationadministration",
    "detox.observationround",
    "aftercare.relapsepreventionplan",
    "aftercare.relapse",
    "aftercare.checkin",
}


def _registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)


def _maker(model):
    """How to make one record of `model` for a patient. A proxy model without its own maker uses its concrete
    model's: enough to prove outsiders find nothing, though the proxy's page may not list that record."""
    makers = _object_makers()
    return makers.get(model) or makers.get(model._meta.concrete_model)


SCOPED_ADMINS = [
    (model, model_admin) for model, model_admin in _registered() if model._meta.label_lower not in NOT_PATIENT_DATA
]
# Pages with a patient's records: those the walk can make a record for; and those it can make a record
# that the page lists (its own maker, not a proxy's concrete model's).
PATIENT_DATA_ADMINS = [(model, model_admin) for model, model_admin in SCOPED_ADMINS if _maker(model) is not None]
# Pages that list only the user's own records, whatever their role, with where that is tested.
AUTHOR_ONLY = {"therapy.psychotherapynote": "read by their author alone (treatment/therapy/tests/test_admin.py)"}
LISTING_ADMINS = [
    (model, model_admin)
    for model, model_admin in PATIENT_DATA_ADMINS
    if model in _object_makers() and model._meta.label_lower not in AUTHOR_ONLY
]


def _ids(pairs):
    return [model._meta.label_lower for model, _ in pairs]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _role_for(action: str | None) -> str:
    """A staff role allowed to do `action`, so a refusal proves scoping rather than a missing permission."""
    for role in PERMISSIONS:
        if role != Role.PATIENT and action and role_may(role, action):
            return role
    raise AssertionError(f"no staff role may {action!r}")


def _urls(model, pk) -> tuple[str, str]:
    opts = model._meta
    return (
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk]),
    )


def test_every_admin_page_is_scoped_or_classified():
    assert PATIENT_DATA_ADMINS, "no admin pages found"
    for model, model_admin in SCOPED_ADMINS:
        label = model._meta.label_lower
        assert isinstance(model_admin, ScopedAdminMixin), f"{label}: base its admin on ScopedModelAdmin"
        assert model_admin.view_action, f"{label}: name the role-table action that shows it (view_action)"
        holds_patient_data = model_scope(model).patient is not None
        assert _maker(model) is not None or not holds_patient_data, (
            f"{label}: add a maker for it to its app's SCOPED_OBJECT_MAKERS"
        )


@pytest.mark.parametrize(("model", "model_admin"), PATIENT_DATA_ADMINS, ids=_ids(PATIENT_DATA_ADMINS))
def test_other_facility_staff_find_nothing_in_the_admin(model, model_admin, patient, other_facility):
    record = _maker(model)(patient)
    before = model.objects.filter(pk=record.pk).values().first()
    outsider = UserFactory(role=_role_for(model_admin.view_action), facility=other_facility)
    client = _client(outsider)
    changelist, change = _urls(model, record.pk)

    listed = client.get(changelist)
    assert listed.status_code == 200
    assert record.pk not in {row.pk for row in listed.context["cl"].result_list}
    searched = client.get(changelist, {"q": getattr(patient, "mrn", "")})
    assert record.pk not in {row.pk for row in searched.context["cl"].result_list}
    assert client.get(change).status_code == 302  # the admin's "does not exist", as for a missing row
    assert client.post(change, {}).status_code in (302, 403)
    overview = client.get(reverse("admin:patient_overview", args=[patient.pk]))
    assert overview.status_code == 302

    assert model.objects.filter(pk=record.pk).values().first() == before, "the record changed"
    assert not AuditEvent.objects.filter(actor=outsider, patient_id=patient.pk).exists()


@pytest.mark.parametrize(("model", "model_admin"), LISTING_ADMINS, ids=_ids(LISTING_ADMINS))
def test_facility_staff_see_it_and_every_read_is_audited(model, model_admin, patient, facility):
    record = _maker(model)(patient)
    insider = UserFactory(role=_role_for(model_admin.view_action), facility=facility)
    client = _client(insider)
    changelist, change = _urls(model, record.pk)

    subject = patient.pk if model_scope(model).patient is not None else None  # a group session has no one patient
    listed = client.get(changelist)
    assert listed.status_code == 200
    assert record.pk in {row.pk for row in listed.context["cl"].result_list}
    assert AuditEvent.objects.filter(
        actor=insider, action="list", object_id=str(record.pk), patient_id=subject, source="admin"
    ).exists()
    assert client.get(change).status_code == 200
    assert AuditEvent.objects.filter(
        actor=insider, action="view", object_id=str(record.pk), patient_id=subject, source="admin"
    ).exists()


@pytest.mark.parametrize(("model", "model_admin"), SCOPED_ADMINS, ids=_ids(SCOPED_ADMINS))
def test_front_desk_opens_no_clinical_page(model, model_admin, patient, staff):
    maker = _maker(model)
    record = maker(patient) if maker is not None else None
    front_desk = staff["front_desk"]
    client = _client(front_desk)
    may_view = role_may(Role.FRONT_DESK, model_admin.view_action)
    if model._meta.label_lower in CLINICAL_ADMIN_PAGES:
        assert not may_view, f"{model._meta.label_lower} is clinical: front desk must not see it"
    expected = 200 if may_view else 403
    changelist, change = _urls(model, record.pk if record is not None else uuid.uuid4())
    assert client.get(changelist).status_code == expected
    if record is not None:
        assert client.get(change).status_code == expected
        if not may_view:
            assert not AuditEvent.objects.filter(actor=front_desk, object_id=str(record.pk)).exists()


def test_the_admin_index_is_the_dashboard_and_closed_to_patients(staff, patient):
    response = _client(staff["nurse"]).get("/admin/")
    assert response.status_code == 200
    assert "staffadmin/dashboard.html" in [template.name for template in response.templates]
    assert _client(patient.user).get("/admin/").status_code == 302  # to the login page
    login = Client().get("/admin/login/")
    assert login.status_code == 200
