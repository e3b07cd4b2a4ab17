"""Admin pages write through the services, are scoped to the user's facilities and audit what they show."""

import datetime

import pytest
from django.test import Client

from aftercare.models import ProviderCheckIn, ProviderCheckInSchedule, Relapse, RelapsePreventionPlan
from clinic.audit.models import AuditEvent


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def episode(clock, patient, enter_aftercare):
    return enter_aftercare(patient)


def test_the_plan_list_is_scoped_and_audited(episode, patient, staff, other_staff):
    plan = RelapsePreventionPlan.objects.get(episode=episode)
    response = login(staff["counselor"]).get("/admin/aftercare/relapsepreventionplan/")
    assert response.status_code == 200
    assert str(plan.pk)[:8] in response.content.decode()
    assert AuditEvent.objects.filter(action="list", source="admin", patient_id=patient.pk).exists()
    outsider = login(other_staff["counselor"]).get("/admin/aftercare/relapsepreventionplan/")
    assert str(plan.pk)[:8] not in outsider.content.decode()
    assert login(other_staff["counselor"]).get(
        f"/admin/aftercare/relapsepreventionplan/{plan.pk}/change/"
    ).status_code in (
        302,
        404,
    )


def test_a_plan_is_written_in_the_admin_through_the_service(clock, patient, episode_in_therapy, staff):
    episode = episode_in_therapy(patient)
    response = login(staff["counselor"]).post(
        "/admin/aftercare/relapsepreventionplan/add/",
        {
            "episode": str(episode.pk),
            "craving_action_plan": '["Call my sponsor."]',
            "support_contacts": '[{"name": "Chris", "phone": "617 555 0112"}]',
            "support_groups": "[]",
            "reasons_for_recovery": '["My kids."]',
            "check_in_prompt_time": "19:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    plan = RelapsePreventionPlan.objects.get(episode=episode)
    assert plan.support_contacts[0]["phone"] == "+16175550112"
    assert AuditEvent.objects.filter(action="create", model="aftercare.relapsepreventionplan", source="admin").exists()


def test_a_service_refusal_shows_on_the_admin_form(clock, patient, episode_in_therapy, staff):
    episode = episode_in_therapy(patient)
    response = login(staff["counselor"]).post(
        "/admin/aftercare/relapsepreventionplan/add/",
        {
            "episode": str(episode.pk),
            "craving_action_plan": "[]",
            "support_contacts": "[]",
            "support_groups": '[{"name": "NA", "kind": "na"}]',
            "reasons_for_recovery": "[]",
        },
    )
    assert response.status_code == 200
    assert "Give the meeting place or a link to join." in response.content.decode()
    assert not RelapsePreventionPlan.objects.exists()


def test_a_trigger_is_added_in_the_admin(episode, staff):
    plan = RelapsePreventionPlan.objects.get(episode=episode)
    response = login(staff["case_manager"]).post(
        f"/admin/aftercare/relapsepreventionplan/{plan.pk}/add-trigger/",
        {"category": "people", "description": "Old friends.", "coping_strategies": "Leave early.\nCall Dana."},
    )
    assert response.status_code == 302
    trigger = plan.triggers.get(category="people")
    assert list(trigger.coping_strategies.values_list("text", flat=True)) == ["Leave early.", "Call Dana."]
    assert (
        login(staff["front_desk"]).get(f"/admin/aftercare/relapsepreventionplan/{plan.pk}/add-trigger/").status_code
        == 403
    )


def test_a_follow_up_is_completed_in_the_admin(episode, staff, clock):
    first = ProviderCheckIn.objects.filter(episode=episode).order_by("offset_days").first()
    clock.move_to(first.due_at)
    url = f"/admin/aftercare/providercheckin/{first.pk}/complete/"
    assert login(staff["front_desk"]).post(url, {"outcome": "stable", "note": "x"}).status_code == 403
    response = login(staff["nurse"]).post(url, {"outcome": "stable", "note": ""})
    assert response.status_code == 200  # the form again, with the error
    response = login(staff["nurse"]).post(url, {"outcome": "stable", "note": "Phone call, doing well."})
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.status, first.completed_by) == ("completed", staff["nurse"])


def test_a_relapse_is_recorded_in_the_admin(episode, staff, clock):
    clock.shift(datetime.timedelta(days=3))
    response = login(staff["counselor"]).post(
        "/admin/aftercare/relapse/add/",
        {
            "episode": str(episode.pk),
            "occurred_on": "2026-03-04",
            "substance": "kratom",
            "context": "",
            "what_helped": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Relapse.objects.get().recorded_by == staff["counselor"]


def test_a_clinic_administrator_sets_the_follow_up_schedule(facility, staff):
    response = login(staff["clinic_admin"]).post(
        "/admin/aftercare/providercheckinschedule/add/",
        {"facility": str(facility.pk), "offsets_days": "7,14,30", "due_time": "09:30", "grace_days": "2"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = ProviderCheckInSchedule.objects.get(facility=facility)
    assert (schedule.offsets_days, schedule.grace_days, schedule.updated_by) == ([7, 14, 30], 2, staff["clinic_admin"])
    assert login(staff["counselor"]).post("/admin/aftercare/providercheckinschedule/add/", {}).status_code == 403


def test_check_ins_are_read_only_in_the_admin(episode, patient, staff, clock):
    from aftercare import services

    check_in = services.check_in_submit(actor=patient.user, patient=patient, craving=2, mood=7, used=False)
    assert login(staff["counselor"]).get(f"/admin/aftercare/checkin/{check_in.pk}/change/").status_code == 200
    assert login(staff["counselor"]).get("/admin/aftercare/checkin/add/").status_code == 403
    assert AuditEvent.objects.filter(action="view", source="admin", object_id=str(check_in.pk)).exists()
