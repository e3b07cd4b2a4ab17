"""The demo detox episode: a realistic three-day course, written through the services, idempotent."""

import io
from itertools import pairwise

from django.core.management import call_command

from clinic.accounts import seeding as account_seeding
from clinic.accounts.models import User
from treatment.detox import chart, selectors
from treatment.detox.models import DetoxCourse, MedicationAdministration, MedicationOrder, ObservationRound
from treatment.detox.seeding import seed
from treatment.models import Alert, Observation


def test_the_demo_detox_episode_has_a_three_day_course_the_chart_draws(db):
    account_seeding.seed(stdout=io.StringIO())
    out = io.StringIO()
    seed(stdout=out)
    assert "with 18 rounds recorded over three days" in out.getvalue()

    course = DetoxCourse.objects.get()
    episode = course.episode
    assert (episode.stage, episode.setting, course.is_active) == ("detox", "inpatient", True)
    rounds = ObservationRound.objects.filter(course=course)
    completed = rounds.filter(status="completed").order_by("sequence")
    assert completed.count() == 18
    assert rounds.filter(status__in=ObservationRound.OPEN_STATUSES).count() == 1
    first, last = completed.first(), completed.last()
    assert 74 <= (last.observed_at - course.started_at).total_seconds() / 3600 <= 75  # 18 rounds, a few late
    assert first.observed_at > course.started_at
    assert all(r.ciwa_ar_id for r in completed)  # alcohol is co-used
    cows = [r.cows.total for r in completed]
    assert max(cows) == 26
    assert cows.index(26) == 6  # the peak on day 2
    assert cows[-1] < 6
    assert set(Alert.objects.filter(episode=episode).values_list("kind", flat=True)) == {
        "cows_severity_alert", "observation_round_overdue"
    }  # fmt: skip

    assert MedicationOrder.objects.filter(episode=episode).count() == 8
    administrations = MedicationAdministration.objects.filter(episode=episode)
    assert administrations.filter(outcome="held").count() == 1
    assert administrations.filter(outcome="refused").count() == 1
    clonidine = administrations.filter(order__drug__code="clonidine", outcome="given").order_by("administered_at")
    assert clonidine.count() >= 6
    assert all(dose.observation.total >= 13 for dose in clonidine)  # given only when COWS was moderate or worse
    gaps = [(b.administered_at - a.administered_at).total_seconds() for a, b in pairwise(clonidine)]
    assert min(gaps) >= 4 * 3600

    timeline = selectors.withdrawal_timeline(episode)
    assert timeline.phase.code == "easing"
    assert timeline.trends["cows"].direction == "falling"
    series = selectors.withdrawal_series(episode)
    assert len(series.scores["cows"]) == 19  # the assessment's score and 18 rounds
    assert len(series.pulse) == 18
    assert chart.render_withdrawal_chart(series, image_format="png").startswith(b"\x89PNG")

    counts = (Observation.objects.count(), ObservationRound.objects.count(), MedicationAdministration.objects.count())
    again = io.StringIO()
    seed(stdout=again)
    assert "demo detox episode present" in again.getvalue()
    assert counts == (
        Observation.objects.count(),
        ObservationRound.objects.count(),
        MedicationAdministration.objects.count(),
    )


def test_seed_demo_gives_the_demo_nurse_the_course_through_the_api_and_other_clinic_nothing(db, api):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "with 18 rounds recorded over three days" in out.getvalue()
    episode = DetoxCourse.objects.get(episode__patient__last_name="Grant").episode
    nurse = api(User.objects.get(username="nurse"))

    timeline = nurse.get(f"/api/v1/episodes/{episode.pk}/withdrawal-timeline/").json()
    assert timeline["phase"]["code"] == "easing"
    assert timeline["trends"]["cows"]["peak"] == 26
    chart_response = nurse.get(f"/api/v1/episodes/{episode.pk}/withdrawal-chart/")
    assert (chart_response.status_code, chart_response["Content-Type"]) == (200, "image/png")
    rows = {row["order"]["drug"]: row for row in nurse.get(f"/api/v1/episodes/{episode.pk}/mar/").json()["rows"]}
    assert rows["clonidine"]["order"]["prn_min_band"] == "moderate"
    assert rows["clonidine"]["prn"]["allowed_now"] is False  # the last COWS (5) is below moderate
    assert rows["chlordiazepoxide"]["order"]["controlled"] is True
    due = nurse.get(f"/api/v1/observation-rounds/?episode={episode.pk}&status=due").json()["results"]
    assert [row["sequence"] for row in due] == [19]

    other = api(User.objects.get(username="othernurse"))
    assert other.get(f"/api/v1/episodes/{episode.pk}/withdrawal-chart/").status_code == 404
    assert other.get(f"/api/v1/observation-rounds/?episode={episode.pk}").json()["results"] == []
