from io import StringIO

import pytest

from clinic.accounts import seeding as accounts_seeding
from patients import seeding as patients_seeding
from treatment import seeding
from treatment.models import Alert, Assessment, Episode, EpisodeTransition, Observation, Stage


def _counts():
    models = (Episode, EpisodeTransition, Observation, Assessment, Alert)
    return tuple(model.objects.count() for model in models)


@pytest.mark.django_db
def test_demo_patients_in_every_stage_before_aftercare_idempotently():
    accounts_seeding.seed(stdout=StringIO())
    patients_seeding.seed(stdout=StringIO())
    seeding.seed(stdout=StringIO())
    stages = dict(Episode.objects.values_list("patient__last_name", "stage"))
    assert set(stages.values()) == set(Stage.values) - {Stage.AFTERCARE}, stages
    assert stages["Avery"] == Stage.THERAPY  # aftercare's seeding writes the plan and moves the patient login on
    assert Assessment.objects.filter(status="draft").get().episode.stage == Stage.ASSESSMENT
    assert Assessment.objects.filter(status="completed").count() == 4
    assert Alert.objects.filter(kind="phq9_safety").exists()
    assert Alert.objects.filter(kind="cows_severity_alert").exists()
    assert Episode.objects.get(stage=Stage.DISCHARGED).discharge_reason == "completed"
    assert EpisodeTransition.objects.filter(from_stage=Stage.ASSESSMENT, to_stage=Stage.THERAPY).exists()

    counts = _counts()
    out = StringIO()
    seeding.seed(stdout=out)
    assert "Episodes: 0 new" in out.getvalue()
    assert _counts() == counts
