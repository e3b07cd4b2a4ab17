import pytest
import time_machine
from django.db import transaction

from clinic.accounts.roles import Role
from clinic.errors import ValidationFailed
from patients.tests.factories import PatientFactory
from treatment import services
from treatment.models import Alert

from ..conftest import audited
from ..factories import AlertFactory


def test_alert_raise_stores_who_must_act(episode, nurse):
    alert = services.alert_raise(
        patient=episode.patient, episode=episode, kind="observation_round_overdue", severity="high",
        reason="Observation round overdue by 30 minutes.", target_user=nurse,
    )  # fmt: skip
    assert (alert.target_user, alert.target_role, alert.acknowledged_at) == (nurse, "", None)
    assert audited(action="create", model="treatment.alert", object_id=alert.pk)


def test_alert_raise_is_idempotent_on_its_dedupe_key(patient):
    def raise_it():
        return services.alert_raise(
            patient=patient, kind="checkin_missed", severity="medium", reason="Two daily check-ins missed.",
            target_role=Role.COUNSELOR, dedupe_key=f"checkin-missed:{patient.pk}:2026-03-02",
        )  # fmt: skip

    first, second = raise_it(), raise_it()
    assert first.pk == second.pk
    assert Alert.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"severity": "urgent"}, "severity"), ({"target_role": None}, "target_role"), ({"reason": ""}, "reason")],
)
def test_alert_raise_validates(changes, field, patient):
    arguments = {"patient": patient, "kind": "x", "severity": "low", "reason": "r", "target_role": "nurse"}
    with pytest.raises(ValidationFailed) as caught:
        services.alert_raise(**(arguments | changes))
    assert field in caught.value.fields
    assert not Alert.objects.exists()


def test_alert_raise_refuses_an_episode_of_another_patient(episode, other_patient):
    with pytest.raises(ValueError, match="another patient"):
        services.alert_raise(
            patient=other_patient, episode=episode, kind="x", severity="low", reason="r", target_role="nurse"
        )


def test_listeners_hear_of_new_alerts_after_commit(patient, django_capture_on_commit_callbacks):
    heard = []
    services.register_alert_listener(heard.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                alert = services.alert_raise(
                    patient=patient, kind="x", severity="low", reason="r", target_role="nurse", dedupe_key="k"
                )
                assert heard == []
            services.alert_raise(patient=patient, kind="x", severity="low", reason="r", target_role="nurse",
                                 dedupe_key="k")  # fmt: skip
    finally:
        services.unregister_alert_listener(heard.append)
    assert heard == [alert.pk]


# --- API -------------------------------------------------------------------------------------------------


def test_a_clinician_acknowledges_an_alert_once(patient, staff, api):
    alert = AlertFactory(patient=patient)
    with time_machine.travel("2026-11-24 09:30:00+00:00", tick=False):
        response = api(staff["nurse"]).post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert response.status_code == 200
    assert response.json()["acknowledged_by"] == staff["nurse"].pk
    assert response.json()["acknowledged_at"] == "2026-11-24T09:30:00Z"
    assert audited(action="acknowledge", model="treatment.alert", object_id=alert.pk)
    again = api(staff["physician"]).post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert again.status_code == 409
    alert.refresh_from_db()
    assert alert.acknowledged_by == staff["nurse"]


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_non_clinical_staff_see_no_alerts(role, patient, staff, api):
    alert = AlertFactory(patient=patient)
    client = api(staff[role])
    assert client.get("/api/v1/alerts/").status_code == 403
    assert client.get(f"/api/v1/alerts/{alert.pk}/").status_code == 403
    assert client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_patients_never_see_alerts_not_even_about_themselves(patient, api):
    alert = AlertFactory(patient=patient)
    client = api(patient.user)
    assert client.get("/api/v1/alerts/").status_code == 403
    assert client.get(f"/api/v1/alerts/{alert.pk}/").status_code == 403
    assert client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 403


def test_other_facility_staff_cannot_see_or_acknowledge(patient, other_staff, api):
    alert = AlertFactory(patient=patient)
    client = api(other_staff["physician"])
    assert client.get("/api/v1/alerts/").json()["results"] == []
    assert client.get(f"/api/v1/alerts/{alert.pk}/").status_code == 404
    assert client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 404
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_alerts_filter(episode, facility, staff, api):
    critical = AlertFactory(patient=episode.patient, episode=episode, target_role="", target_user=staff["physician"])
    other = PatientFactory(facility=facility)
    done = AlertFactory(patient=other, kind="cows_severity_alert", severity="high", target_role=Role.NURSE)
    services.alert_acknowledge(actor=staff["nurse"], alert=done)
    client = api(staff["physician"])

    def ids(query=""):
        response = client.get(f"/api/v1/alerts/?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {str(critical.pk), str(done.pk)}
    assert ids(f"patient={other.pk}") == {str(done.pk)}
    assert ids(f"episode={episode.pk}") == {str(critical.pk)}
    assert ids("kind=cows_severity_alert") == {str(done.pk)}
    assert ids("severity=critical") == {str(critical.pk)}
    assert ids("acknowledged=false") == {str(critical.pk)}
    assert ids("acknowledged=true") == {str(done.pk)}
    assert ids("target_role=nurse") == {str(done.pk)}
    assert ids(f"target_user={staff['physician'].pk}") == {str(critical.pk)}
    assert ids("updated_since=2999-01-01T00:00:00Z") == set()
    assert audited(action="list", model="treatment.alert", object_id=critical.pk)


def test_alert_detail_is_audited(patient, staff, api):
    alert = AlertFactory(patient=patient)
    body = api(staff["case_manager"]).get(f"/api/v1/alerts/{alert.pk}/").json()
    assert set(body) >= {"id", "patient", "episode", "kind", "severity", "reason", "created_at", "acknowledged_at",
                         "acknowledged_by"}  # fmt: skip
    assert audited(action="view", model="treatment.alert", object_id=alert.pk)


def test_alert_list_queries_do_not_grow_with_the_page(facility, nurse, api, assert_list_queries_constant):
    assert_list_queries_constant(
        api(nurse), "/api/v1/alerts/?page_size=50", lambda: AlertFactory(patient=PatientFactory(facility=facility))
    )
