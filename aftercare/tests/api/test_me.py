"""The mobile apps' aftercare corners under /api/v1/me/: the patient's relapse-prevention plan, self check-ins
and reminder settings; the staff member's follow-up check-ins due. And the deletions feed for plan content."""

import datetime

import pytest

from aftercare.models import CheckIn, ProviderCheckIn, RelapsePreventionPlan
from clinic.notifications.models import Reminder
from patients.models import CommunicationConsent
from patients.tests.factories import CommunicationConsentFactory, patient_with_login

from ..conftest import NOW, audited
from ..factories import ProviderCheckInFactory

PLAN = "/api/v1/me/relapse-prevention-plan/"
CHECK_INS = "/api/v1/me/check-ins/"
SETTINGS = "/api/v1/me/reminder-settings/"
DUE = "/api/v1/me/check-ins-due/"
CALM = {"craving": 3, "mood": 7, "used": False, "triggers": ["argument at home"], "note": ""}


# --- me/relapse-prevention-plan/ -----------------------------------------------------------------------


def test_a_patient_reads_their_current_plan_with_triggers_and_strategies(clock, patient, enter_aftercare, api):
    episode = enter_aftercare(patient)

    response = api(patient.user).get(PLAN)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["episode"] == str(episode.pk)
    assert body["triggers"][0]["category"] == "stress"
    assert [s["text"] for s in body["triggers"][0]["coping_strategies"]] == ["Ten-minute walk.", "Call my sponsor."]
    assert response["ETag"]
    assert audited(action="view", model="aftercare.relapsepreventionplan", object_id=body["id"])


def test_the_plan_is_read_only_here(clock, patient, enter_aftercare, api):
    enter_aftercare(patient)
    assert api(patient.user).patch(PLAN, {"reasons_for_recovery": ["x"]}, format="json").status_code in (403, 405)


def test_no_plan_yet_is_a_404_and_another_patients_plan_never_shows(
    clock, patient, other_patient, enter_aftercare, api
):
    plan = RelapsePreventionPlan.objects.get(episode=enter_aftercare(patient))

    response = api(other_patient.user).get(PLAN)

    assert response.status_code == 404
    assert str(plan.pk) not in response.content.decode()


def test_staff_get_403_on_the_patients_plan_corner(clock, patient, enter_aftercare, staff, other_staff, api):
    enter_aftercare(patient)
    for user in (staff["counselor"], other_staff["counselor"]):
        assert api(user).get(PLAN).status_code == 403


# --- me/check-ins/ -------------------------------------------------------------------------------------


def test_a_patient_checks_in_and_lists_only_their_own(clock, patient, other_patient, enter_aftercare, api):
    enter_aftercare(patient)
    enter_aftercare(other_patient)
    api(other_patient.user).post(CHECK_INS, CALM, format="json")

    created = api(patient.user).post(CHECK_INS, CALM, format="json")
    listed = api(patient.user).get(CHECK_INS)

    assert created.status_code == 201, created.content
    assert created.json()["triggers"] == ["argument at home"]
    assert [row["id"] for row in listed.json()["results"]] == [created.json()["id"]]
    assert listed.json()["sync_position"]
    assert audited(action="create", model="aftercare.checkin", object_id=created.json()["id"])
    assert audited(action="list", model="aftercare.checkin", object_id=created.json()["id"])


def test_a_retried_check_in_with_the_same_idempotency_key_is_recorded_once(clock, patient, enter_aftercare, api):
    enter_aftercare(patient)
    client = api(patient.user)

    first = client.post(CHECK_INS, CALM, format="json", HTTP_IDEMPOTENCY_KEY="phone-42")
    retry = client.post(CHECK_INS, CALM, format="json", HTTP_IDEMPOTENCY_KEY="phone-42")

    assert first.status_code == retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert CheckIn.objects.filter(patient=patient).count() == 1


def test_a_check_in_before_the_daily_prompt_cancels_todays_prompt(clock, patient, enter_aftercare, api):
    """The same service as check-ins/: reminders cancel in one place."""
    CommunicationConsentFactory(patient=patient, channel="sms")
    patient.phone = "+16175550123"
    patient.save()
    enter_aftercare(patient)
    prompt = Reminder.objects.get(patient=patient, kind=Reminder.Kind.CHECK_IN_PROMPT)

    assert api(patient.user).post(CHECK_INS, CALM, format="json").status_code == 201

    prompt.refresh_from_db()
    assert prompt.status == Reminder.Status.CANCELLED


@pytest.mark.parametrize(("values", "field"), [({"craving": 11}, "craving"), ({"used": "maybe"}, "used")])
def test_bad_check_ins_are_a_400_naming_the_field(values, field, clock, patient, enter_aftercare, api):
    enter_aftercare(patient)
    response = api(patient.user).post(CHECK_INS, {**CALM, **values}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_staff_get_403_on_the_patients_check_in_corner(clock, patient, enter_aftercare, staff, other_staff, api):
    enter_aftercare(patient)
    for user in (staff["counselor"], other_staff["counselor"]):
        assert api(user).get(CHECK_INS).status_code == 403
        assert api(user).post(CHECK_INS, CALM, format="json").status_code == 403


def test_the_check_in_list_costs_the_same_for_3_and_15_rows(
    clock, patient, enter_aftercare, api, assert_same_budget_for_3_and_15_rows
):
    episode = enter_aftercare(patient)

    def make_row():
        CheckIn.objects.create(
            patient=patient, episode=episode, craving=1, mood=5, used=False, checked_in_at=NOW, local_date=NOW.date()
        )

    assert_same_budget_for_3_and_15_rows(patient.user, CHECK_INS, make_row, bound=8)


# --- me/reminder-settings/ -----------------------------------------------------------------------------


def test_a_patient_reads_their_reminder_settings(clock, patient, enter_aftercare, api):
    CommunicationConsentFactory(patient=patient, channel="sms")
    CommunicationConsentFactory(patient=patient, channel="email", action="opt_out")
    enter_aftercare(patient)

    response = api(patient.user).get(SETTINGS)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["channels"] == {"sms": True, "email": False, "push": False}
    assert body["daily_check_in_time"] == "19:00:00"
    assert body["daily_check_in_available"] is True
    assert body["timezone"] == patient.timezone
    assert response["ETag"]
    assert audited(action="view", model="patients.patient", object_id=patient.pk)


def test_a_patient_changes_channels_quiet_hours_and_check_in_time_in_one_step(clock, patient, enter_aftercare, api):
    CommunicationConsentFactory(patient=patient, channel="sms", occurred_at=NOW - datetime.timedelta(days=1))
    episode = enter_aftercare(patient)
    client = api(patient.user)
    etag = client.get(SETTINGS)["ETag"]

    response = client.patch(
        SETTINGS,
        {
            "channels": {"sms": False, "push": True},
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "07:00",
            "daily_check_in_time": "08:30",
        },
        format="json",
        HTTP_IF_MATCH=etag,
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["channels"] == {"sms": False, "email": False, "push": True}
    assert (body["quiet_hours_start"], body["quiet_hours_end"]) == ("22:00:00", "07:00:00")
    assert body["daily_check_in_time"] == "08:30:00"
    assert response["ETag"] != etag
    latest = CommunicationConsent.objects.filter(patient=patient, channel="sms").order_by("-occurred_at").first()
    assert (latest.action, latest.source) == ("opt_out", "patient_app")
    plan = RelapsePreventionPlan.objects.get(episode=episode)
    assert plan.check_in_prompt_time == datetime.time(8, 30)
    assert audited(action="update", model="patients.patient", object_id=patient.pk)
    assert audited(action="update", model="aftercare.relapsepreventionplan", object_id=plan.pk)
    assert audited(action="create", model="patients.communicationconsent", object_id=latest.pk)
    # The daily prompt moved at once (the service owns that rule).
    prompt = Reminder.objects.filter(patient=patient, kind=Reminder.Kind.CHECK_IN_PROMPT, status="scheduled").get()
    assert prompt.send_at.astimezone(datetime.UTC).time() == datetime.time(13, 30)  # 08:30 in New York (EST)


def test_a_stale_if_match_is_a_412_and_nothing_changes(clock, patient, enter_aftercare, api):
    enter_aftercare(patient)
    client = api(patient.user)
    etag = client.get(SETTINGS)["ETag"]
    assert client.patch(SETTINGS, {"channels": {"push": True}}, format="json", HTTP_IF_MATCH=etag).status_code == 200

    response = client.patch(SETTINGS, {"channels": {"push": False}}, format="json", HTTP_IF_MATCH=etag)

    assert response.status_code == 412
    assert client.get(SETTINGS).json()["channels"]["push"] is True


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"quiet_hours_start": "22:00"}, "quiet_hours_end"),
        ({"daily_check_in_time": "25:00"}, "daily_check_in_time"),
        ({"preferred_channel": "pigeon"}, "preferred_channel"),
        ({"channels": {"sms": "sometimes"}}, "channels"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field(values, field, clock, patient, enter_aftercare, api):
    enter_aftercare(patient)
    response = api(patient.user).patch(SETTINGS, values, format="json")
    assert response.status_code == 400
    assert any(name.startswith(field) for name in response.json()["error"]["fields"]), response.json()


def test_no_check_in_time_before_a_plan_exists(clock, patient, api):
    client = api(patient.user)
    assert client.get(SETTINGS).json()["daily_check_in_available"] is False

    response = client.patch(SETTINGS, {"daily_check_in_time": "08:00", "channels": {"sms": True}}, format="json")

    assert response.status_code == 400
    assert "daily_check_in_time" in response.json()["error"]["fields"]
    assert not CommunicationConsent.objects.filter(patient=patient).exists()  # all or nothing


def test_staff_get_403_on_reminder_settings(patient, staff, other_staff, api):
    for user in (staff["front_desk"], other_staff["nurse"]):
        assert api(user).get(SETTINGS).status_code == 403
        assert api(user).patch(SETTINGS, {"channels": {"sms": True}}, format="json").status_code == 403


def test_another_patients_settings_never_change_mine(patient, other_patient, api):
    api(other_patient.user).patch(SETTINGS, {"channels": {"sms": True}}, format="json")
    assert not CommunicationConsent.objects.filter(patient=patient).exists()


# --- me/check-ins-due/ (staff) -------------------------------------------------------------------------


def test_a_provider_lists_the_follow_ups_they_hold_soonest_first(staff, other_staff, patient, api):
    mine_later = ProviderCheckInFactory(
        episode__patient=patient, provider=staff["case_manager"], due_at=NOW + datetime.timedelta(days=30)
    )
    mine_soon = ProviderCheckInFactory(
        episode__patient=patient_with_login(facility=patient.facility),
        provider=staff["case_manager"],
        due_at=NOW + datetime.timedelta(days=7),
    )
    ProviderCheckInFactory(episode__patient=patient_with_login(facility=patient.facility), provider=staff["counselor"])

    response = api(staff["case_manager"]).get(DUE)

    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()["results"]] == [str(mine_soon.pk), str(mine_later.pk)]
    assert audited(action="list", model="aftercare.providercheckin", object_id=mine_soon.pk)
    assert api(other_staff["case_manager"]).get(DUE).json()["results"] == []


def test_completed_follow_ups_leave_the_list(staff, patient, api):
    check_in = ProviderCheckInFactory(episode__patient=patient, provider=staff["case_manager"])
    ProviderCheckIn.objects.filter(pk=check_in.pk).update(
        status="completed", completed_at=NOW, completed_by=staff["case_manager"], outcome="stable"
    )
    assert api(staff["case_manager"]).get(DUE).json()["results"] == []


def test_patients_and_front_desk_get_403_on_check_ins_due(patient, staff, api):
    assert api(patient.user).get(DUE).status_code == 403
    assert api(staff["front_desk"]).get(DUE).status_code == 403


def test_bad_filter_is_a_400_naming_it(staff, api):
    response = api(staff["case_manager"]).get(DUE, {"status": "completed"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_the_check_ins_due_list_costs_the_same_for_3_and_15_rows(
    facility, staff, api, assert_same_budget_for_3_and_15_rows
):
    provider = staff["case_manager"]

    def make_row():
        ProviderCheckInFactory(provider=provider, episode__patient=patient_with_login(facility=facility))

    assert_same_budget_for_3_and_15_rows(provider, DUE, make_row, bound=8)


# --- The deletions feed: plan content removed ----------------------------------------------------------


def test_a_removed_trigger_and_its_strategies_reach_the_deletions_feed(
    clock, patient, enter_aftercare, staff, other_staff, api
):
    plan = RelapsePreventionPlan.objects.get(episode=enter_aftercare(patient))
    trigger = plan.triggers.get()
    strategies = [str(pk) for pk in trigger.coping_strategies.values_list("pk", flat=True)]
    since = (NOW - datetime.timedelta(seconds=1)).isoformat()

    response = api(staff["counselor"]).delete(f"/api/v1/relapse-prevention-plans/{plan.pk}/triggers/{trigger.pk}/")
    assert response.status_code == 200, response.content

    def feed(user):
        rows = api(user).get("/api/v1/sync/deletions/", {"since": since}).json()["results"]
        return {(row["model"], row["object_id"], row["reason"]) for row in rows}

    expected = {("aftercare.relapsetrigger", str(trigger.pk), "deleted")} | {
        ("aftercare.copingstrategy", pk, "deleted") for pk in strategies
    }
    assert feed(staff["nurse"]) == expected
    assert feed(patient.user) == expected
    assert feed(other_staff["nurse"]) == set()
