"""Treatment plans: the tree of problems, SMART goals and objectives, interventions, rewriting it by ids,
reviews at an interval, and the reminder to the primary counselor when a review falls due."""

import datetime
from datetime import timedelta

import pytest

from clinic.errors import Conflict, NotAllowed, ValidationFailed
from clinic.notifications.models import Reminder
from treatment import services as treatment_services
from treatment.models import Alert
from treatment.therapy import services, tasks
from treatment.therapy.models import PlanObjective, TreatmentPlan

from .conftest import at, audited

pytestmark = pytest.mark.usefixtures("clock")

TREE = {
    "problems": [
        {
            "description": "Daily kratom use to manage back pain and low mood.",
            "goals": [
                {
                    "statement": "Stop kratom use.",
                    "measure": "Self-report and weekly urine drug screens negative for mitragynine.",
                    "target_date": datetime.date(2026, 5, 1),
                    "objectives": [
                        {"description": "Identify three personal triggers.", "target_date": datetime.date(2026, 3, 16)},
                        {
                            "description": "Use a coping skill at every craving.",
                            "target_date": datetime.date(2026, 4, 1),
                        },
                    ],
                }
            ],
        }
    ],
    "interventions": [
        {"kind": "cbt", "description": "Thought records and behavioural experiments.", "frequency": "weekly"},
        {"kind": "motivational_interviewing", "frequency": "at each session"},
    ],
}


def make_plan(episode, actor, **kwargs):
    return services.treatment_plan_create(actor=actor, episode=episode, **{**TREE, **kwargs})


def test_a_plan_holds_problems_goals_objectives_and_interventions(episode, counselor):
    plan = make_plan(episode, counselor)
    assert plan.review_interval_days == 30
    assert plan.next_review_at == at(days=30)
    problem = plan.problems.get()
    goal = problem.goals.get()
    assert goal.measure.startswith("Self-report")
    assert [o.description for o in goal.objectives.all()] == [
        "Identify three personal triggers.",
        "Use a coping skill at every craving.",
    ]
    assert {o.status for o in goal.objectives.all()} == {PlanObjective.Status.NOT_STARTED}
    assert [i.kind for i in plan.interventions.all()] == ["cbt", "motivational_interviewing"]
    assert audited(action="create", model="therapy.treatmentplan", object_id=plan.pk)


def test_one_plan_per_episode(episode, counselor):
    plan = make_plan(episode, counselor)
    with pytest.raises(Conflict) as raised:
        make_plan(episode, counselor)
    assert raised.value.details == {"plan": str(plan.pk)}


def test_goals_must_be_smart_and_objectives_due_within_their_goal(episode, counselor):
    goal = {"statement": "Feel better.", "measure": "", "target_date": None}
    late = {
        "statement": "Stop use.",
        "measure": "Negative screens.",
        "target_date": datetime.date(2026, 4, 1),
        "objectives": [{"description": "Find a sponsor.", "target_date": datetime.date(2026, 5, 1)}],
    }
    other = {"kind": "other", "description": ""}
    with pytest.raises(ValidationFailed) as raised:
        services.treatment_plan_create(
            actor=counselor,
            episode=episode,
            problems=[{"description": "Use.", "goals": [goal, late]}],
            interventions=[other],
        )
    assert set(raised.value.fields) == {
        "problems.0.goals.0.measure",
        "problems.0.goals.0.target_date",
        "problems.0.goals.1.objectives.0.target_date",
        "interventions.0.description",
    }
    assert not TreatmentPlan.objects.exists()


def test_only_plan_writers_write_plans(episode, staff):
    with pytest.raises(NotAllowed):
        make_plan(episode, staff["front_desk"])
    with pytest.raises(NotAllowed):
        make_plan(episode, staff["nurse"])


def test_rewriting_keeps_rows_by_id_adds_new_ones_and_removes_the_rest(episode, counselor):
    plan = make_plan(episode, counselor)
    problem = plan.problems.get()
    goal = problem.goals.get()
    kept, dropped = goal.objectives.all()
    services.treatment_plan_update(
        actor=counselor,
        plan=plan,
        data={
            "problems": [
                {
                    "id": problem.pk,
                    "description": problem.description,
                    "goals": [
                        {
                            "id": goal.pk,
                            "statement": goal.statement,
                            "measure": goal.measure,
                            "target_date": goal.target_date,
                            "objectives": [
                                {"description": "Attend two mutual-help meetings.", "target_date": goal.target_date},
                                {
                                    "id": kept.pk,
                                    "description": kept.description,
                                    "target_date": kept.target_date,
                                    "status": "achieved",
                                },
                            ],
                        }
                    ],
                },
                {"description": "Insomnia."},
            ]
        },
    )
    objectives = list(PlanObjective.objects.filter(goal=goal))
    assert [(o.description, o.status) for o in objectives] == [
        ("Attend two mutual-help meetings.", "not_started"),
        (kept.description, "achieved"),
    ]
    assert not PlanObjective.objects.filter(pk=dropped.pk).exists()
    assert [p.description for p in plan.problems.all()] == [problem.description, "Insomnia."]
    assert plan.interventions.count() == 2  # not named: left as they were
    assert audited(action="update", model="therapy.treatmentplan", object_id=plan.pk)


def test_ids_of_another_plan_are_refused(episode, other_episode, counselor):
    plan = make_plan(episode, counselor)
    other = make_plan(other_episode, counselor)
    foreign = other.problems.get()
    with pytest.raises(ValidationFailed) as raised:
        services.treatment_plan_update(
            actor=counselor, plan=plan, data={"problems": [{"id": foreign.pk, "description": "Mine now."}]}
        )
    assert list(raised.value.fields) == ["problems.0.id"]
    foreign.refresh_from_db()
    assert foreign.description != "Mine now."


def test_a_new_interval_moves_the_next_review(episode, counselor, clock):
    plan = make_plan(episode, counselor)
    clock.shift(timedelta(days=3))
    plan = services.treatment_plan_update(actor=counselor, plan=plan, data={"review_interval_days": 14})
    assert plan.next_review_at == at(days=14)


def test_a_review_sets_the_next_one_an_interval_on(episode, counselor, clock):
    plan = make_plan(episode, counselor, review_interval_days=14)
    clock.shift(timedelta(days=15))
    review = services.treatment_plan_review(actor=counselor, plan=plan, summary="Objective 1 achieved.")
    plan.refresh_from_db()
    assert (plan.last_reviewed_at, plan.next_review_at) == (at(days=15), at(days=29))
    assert (review.reviewed_by, review.next_review_at) == (counselor, at(days=29))
    assert audited(action="review", model="therapy.treatmentplan", object_id=plan.pk)
    with pytest.raises(ValidationFailed):
        services.treatment_plan_review(actor=counselor, plan=plan, summary="  ")


def test_a_closed_episodes_plan_is_not_changed(episode, counselor, physician):
    plan = make_plan(episode, counselor)
    treatment_services.episode_transition(
        actor=physician, episode=episode, to="discharged", reason="Moved away.", category="transferred"
    )
    with pytest.raises(Conflict):
        services.treatment_plan_review(actor=counselor, plan=plan, summary="Late review.")


# --- Review reminders -----------------------------------------------------------------------------------


def plan_reminders(plan):
    return Reminder.objects.filter(kind=Reminder.Kind.PLAN_REVIEW_DUE, subject_id=str(plan.pk))


def test_the_primary_counselor_is_reminded_once_when_a_review_falls_due(episode, counselor, clock):
    plan = make_plan(episode, counselor, review_interval_days=7)
    clock.shift(timedelta(days=7) - timedelta(minutes=1))
    assert tasks.plan_reviews_remind_due() == 0
    clock.shift(timedelta(minutes=1))
    assert tasks.plan_reviews_remind_due() == 1
    reminder = plan_reminders(plan).get()
    assert (reminder.staff, reminder.send_at, reminder.context) == (
        counselor,
        at(days=7),
        {"at": at(days=7).isoformat()},
    )
    clock.shift(timedelta(hours=1))
    assert tasks.plan_reviews_remind_due() == 0
    assert plan_reminders(plan).count() == 1
    assert audited(action="review_reminder", model="therapy.treatmentplan", object_id=plan.pk)


def test_each_due_date_is_reminded_again_after_a_review(episode, counselor, clock):
    plan = make_plan(episode, counselor, review_interval_days=7)
    clock.shift(timedelta(days=8))
    services.plan_reviews_remind_due()
    services.treatment_plan_review(actor=counselor, plan=plan, summary="On track.")
    clock.shift(timedelta(days=7))
    assert services.plan_reviews_remind_due() == 1
    assert plan_reminders(plan).count() == 2


def test_without_a_primary_counselor_the_counselors_are_alerted(episode, counselor, physician, clock):
    treatment_services.episode_update_care_team(actor=physician, episode=episode, data={"primary_counselor": None})
    plan = make_plan(episode, counselor, review_interval_days=1)
    clock.shift(timedelta(days=1))
    assert services.plan_reviews_remind_due() == 1
    alert = Alert.objects.get(kind="plan_review_due")
    assert (alert.patient_id, alert.target_role, alert.severity) == (episode.patient_id, "counselor", "medium")
    assert not plan_reminders(plan).exists()


def test_closed_episodes_get_no_review_reminder(episode, counselor, physician, clock):
    make_plan(episode, counselor, review_interval_days=1)
    treatment_services.episode_transition(
        actor=physician, episode=episode, to="discharged", reason="Moved away.", category="transferred"
    )
    clock.shift(timedelta(days=2))
    assert services.plan_reviews_remind_due() == 0
