"""seed_demo: patients weeks into aftercare with plans, follow-ups (some completed, one missed), daily check-in
history with the alerts it raised, a relapse and a readmission; and nothing new on a second run."""

import datetime
import os

from django.core.management import call_command
from django.db.models import Count

from aftercare.models import CheckIn, ProviderCheckIn, Relapse, RelapsePreventionPlan, RelapseTrigger
from clinic.notifications.models import Reminder
from patients.models import Patient
from treatment.models import Alert, Episode, Stage


def seed():
    with open(os.devnull, "w") as devnull:
        call_command("seed_demo", stdout=devnull)


def counts():
    models = [RelapsePreventionPlan, RelapseTrigger, ProviderCheckIn, CheckIn, Relapse, Episode, Alert, Reminder]
    return {model.__name__: model.objects.count() for model in models}


def test_seed_demo_holds_patients_in_aftercare_with_history(db):
    seed()
    jordan = Patient.objects.get(user__username="patient")
    episode = Episode.objects.get(patient=jordan, closed_at__isnull=True)
    assert episode.stage == Stage.AFTERCARE
    plan = RelapsePreventionPlan.objects.get(episode=episode)
    assert plan.triggers.filter(authored_by_patient=True).exists()
    assert {group["kind"] for group in plan.support_groups} >= {"na", "smart_recovery", "kratom_specific"}

    days = sorted(CheckIn.objects.filter(patient=jordan).values_list("local_date", flat=True))
    assert len(days) >= 15
    assert days[-1] - days[0] >= datetime.timedelta(days=20)  # about three weeks
    cravings = set(CheckIn.objects.filter(patient=jordan).values_list("craving", flat=True))
    assert len(cravings) >= 4  # days differ
    assert max(cravings) >= 8

    in_aftercare = Episode.objects.filter(stage=Stage.AFTERCARE).count()
    assert in_aftercare >= 2
    statuses = dict(ProviderCheckIn.objects.values_list("status").annotate(n=Count("pk")))
    assert statuses["completed"] >= 3
    assert statuses["missed"] == 1
    assert Alert.objects.filter(kind="provider_check_in_missed").count() == 1
    assert Alert.objects.filter(kind="check_ins_missed").exists()
    assert Alert.objects.filter(kind="check_in_use_reported").exists()

    readmitted = Episode.objects.filter(previous_episode__isnull=False, stage=Stage.ASSESSMENT).get()
    assert readmitted.previous_episode.stage == Stage.DISCHARGED
    assert Relapse.objects.filter(readmission=readmitted).exists()
    assert not ProviderCheckIn.objects.filter(episode=readmitted.previous_episode, status="scheduled").exists()


def test_seed_demo_adds_nothing_the_second_time(db):
    seed()
    before = counts()
    seed()
    assert counts() == before
