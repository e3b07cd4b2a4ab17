"""The medication administration record: every refusal, PRN rules and what the MAR shows."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from clinic.accounts.roles import Role
from clinic.audit.models import AuditEvent
from clinic.errors import Conflict, NotAllowed, ValidationFailed
from treatment import services as treatment_services
from treatment.detox import selectors, services
from treatment.detox.models import MedicationAdministration
from treatment.models import Stage

from .conftest import minutes, responses_totalling

T0 = datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC)
GIVEN, REFUSED, HELD = "given", "refused", "held"


@pytest.fixture
def frozen():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def hours(n: float) -> datetime.timedelta:
    return datetime.timedelta(hours=n)


@pytest.fixture
def prescribe(episode, physician, drug):
    def make(code="clonidine", **fields):
        defaults = {"dose": Decimal("0.1"), "dose_unit": "mg", "frequency": "q6h"}
        return services.medication_order_create(
            actor=physician, episode=episode, drug=drug(code), **{**defaults, **fields}
        )

    return make


@pytest.fixture
def prn(prescribe):
    def make(code="clonidine", **fields):
        defaults = {"frequency": "prn", "indication": "Withdrawal symptoms", "min_interval_minutes": 240}
        return prescribe(code, **{**defaults, **fields})

    return make


def give(order, actor, **fields):
    return services.medication_administer(actor=actor, order=order, outcome=fields.pop("outcome", GIVEN), **fields)


def score(episode, nurse, instrument="cows", total=14, observed_at=None):
    return treatment_services.observation_record(
        actor=nurse,
        episode=episode,
        instrument=instrument,
        responses=responses_totalling(instrument, total),
        observed_at=observed_at,
    )


# --- Recording ----------------------------------------------------------------------------------------------


def test_a_scheduled_dose_is_given_with_the_orders_dose_who_and_when(frozen, prescribe, nurse):
    order = prescribe()
    frozen.move_to(T0 + minutes(20))
    given = give(order, nurse, scheduled_for=T0)
    assert (given.outcome, given.dose, given.dose_unit, given.route) == (GIVEN, Decimal("0.1"), "mg", "oral")
    assert (given.recorded_by, given.administered_at, given.scheduled_for) == (nurse, timezone.now(), T0)
    event = AuditEvent.objects.get(model="detox.medicationadministration", object_id=str(given.pk), action="create")
    assert event.detail == {"outcome": "given", "order": str(order.pk), "prn": False, "controlled": False}


def test_refused_and_held_doses_are_recorded_without_a_dose_and_held_needs_a_reason(frozen, prescribe, nurse):
    order = prescribe()
    refused = give(order, nurse, outcome=REFUSED, scheduled_for=T0)
    assert (refused.outcome, refused.dose, refused.dose_unit) == (REFUSED, None, "")
    frozen.move_to(T0 + hours(6))
    with pytest.raises(ValidationFailed) as problem:
        give(order, nurse, outcome=HELD, scheduled_for=T0 + hours(6))
    assert problem.value.fields == {"reason": ["Give the reason the dose is held."]}
    held = give(order, nurse, outcome=HELD, scheduled_for=T0 + hours(6), reason="Systolic 92.")
    assert (held.outcome, held.reason) == (HELD, "Systolic 92.")


@pytest.mark.parametrize("role", [Role.COUNSELOR, Role.CASE_MANAGER, Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_only_nurses_and_physicians_administer(role, staff, frozen, prescribe, physician):
    order = prescribe()
    with pytest.raises(NotAllowed):
        give(order, staff[role], scheduled_for=T0)
    assert give(order, physician, scheduled_for=T0).recorded_by == physician


# --- Refusal: no active order ----------------------------------------------------------------------------------


def test_no_dose_before_the_order_starts(frozen, prescribe, nurse):
    order = prescribe(starts_at=T0 + hours(2))
    with pytest.raises(Conflict) as refused:
        give(order, nurse, scheduled_for=T0 + hours(2))
    assert refused.value.code == "no_active_order"


def test_no_dose_after_the_order_stops(frozen, prescribe, nurse):
    order = prescribe(starts_at=T0, stops_at=T0 + hours(12))
    frozen.move_to(T0 + hours(12))
    with pytest.raises(Conflict) as refused:
        give(order, nurse, scheduled_for=T0 + hours(12))
    assert refused.value.code == "no_active_order"
    late = give(order, nurse, scheduled_for=T0 + hours(6), administered_at=T0 + hours(6) + minutes(5))
    assert late.scheduled_for == T0 + hours(6)  # charted late, given while the order applied


def test_no_dose_after_the_order_is_discontinued(frozen, prn, nurse, physician):
    order = prn(code="ondansetron", dose=Decimal("4"), indication="Nausea")
    frozen.move_to(T0 + hours(1))
    services.medication_order_discontinue(actor=physician, order=order, reason="Nausea settled.")
    with pytest.raises(Conflict) as refused:
        give(order, nurse)
    assert refused.value.code == "no_active_order"


def test_no_dose_once_the_episode_is_closed(frozen, prn, nurse, physician, episode):
    order = prn(code="ondansetron", dose=Decimal("4"), indication="Nausea")
    treatment_services.episode_transition(
        actor=physician, episode=episode, to=Stage.DISCHARGED, reason="Transferred.", category="transferred"
    )
    with pytest.raises(Conflict) as refused:
        give(order, nurse)
    assert refused.value.code == "no_active_order"
    assert not MedicationAdministration.objects.exists()


# --- Scheduled doses ------------------------------------------------------------------------------------------


def test_a_scheduled_dose_is_recorded_once(frozen, prescribe, nurse, physician):
    order = prescribe()
    give(order, nurse, scheduled_for=T0)
    for outcome, reason in [(GIVEN, ""), (REFUSED, ""), (HELD, "Asleep.")]:
        with pytest.raises(Conflict) as refused:
            give(order, physician, outcome=outcome, scheduled_for=T0, reason=reason)
        assert refused.value.code == "dose_already_recorded"
    assert MedicationAdministration.objects.count() == 1


def test_the_database_holds_a_scheduled_dose_once(frozen, prescribe, nurse):
    from django.db import IntegrityError, transaction

    order = prescribe()
    first = give(order, nurse, scheduled_for=T0)
    with pytest.raises(IntegrityError), transaction.atomic():
        MedicationAdministration.objects.create(
            order=order, episode=order.episode, outcome=REFUSED, scheduled_for=T0, administered_at=T0,
            recorded_by=nurse,
        )  # fmt: skip
    assert list(MedicationAdministration.objects.all()) == [first]


def test_a_scheduled_dose_names_a_dose_time_of_the_order(frozen, prescribe, nurse):
    order = prescribe()
    with pytest.raises(ValidationFailed) as refused:
        give(order, nurse)
    assert refused.value.fields == {"scheduled_for": ["Name the scheduled dose (its time) this records."]}
    with pytest.raises(ValidationFailed) as refused:
        give(order, nurse, scheduled_for=T0 + hours(5))
    assert refused.value.fields == {"scheduled_for": ["Not a scheduled dose time of this order."]}


def test_a_scheduled_dose_may_be_given_up_to_an_hour_early(frozen, prescribe, nurse):
    order = prescribe()
    frozen.move_to(T0 + hours(6) - minutes(61))
    with pytest.raises(Conflict) as refused:
        give(order, nurse, scheduled_for=T0 + hours(6))
    assert refused.value.code == "dose_not_due"
    frozen.move_to(T0 + hours(6) - minutes(60))
    assert give(order, nurse, scheduled_for=T0 + hours(6)).outcome == GIVEN


def test_a_once_order_has_one_dose(frozen, prescribe, nurse):
    order = prescribe(code="ondansetron", frequency="once", dose=Decimal("8"))
    give(order, nurse, scheduled_for=T0)
    with pytest.raises(Conflict):
        give(order, nurse, scheduled_for=T0)


def test_no_dose_in_the_future(frozen, prescribe, nurse):
    order = prescribe()
    with pytest.raises(ValidationFailed) as refused:
        give(order, nurse, scheduled_for=T0, administered_at=T0 + minutes(5))
    assert refused.value.fields == {"administered_at": ["Cannot be in the future."]}


# --- PRN ------------------------------------------------------------------------------------------------------


def test_a_prn_dose_inside_the_minimum_interval_is_refused(frozen, prn, nurse):
    order = prn(code="ondansetron", dose=Decimal("4"), indication="Nausea", min_interval_minutes=480)
    give(order, nurse)
    frozen.move_to(T0 + hours(8) - minutes(1))
    with pytest.raises(Conflict) as refused:
        give(order, nurse)
    assert refused.value.code == "prn_interval"
    assert refused.value.details == {"next_allowed_at": (T0 + hours(8)).isoformat()}
    frozen.move_to(T0 + hours(8))
    assert give(order, nurse).administered_at == T0 + hours(8)


def test_a_late_charted_prn_dose_respects_the_interval_on_both_sides(frozen, prn, nurse):
    order = prn(code="ondansetron", dose=Decimal("4"), indication="Nausea", min_interval_minutes=480)
    frozen.move_to(T0 + hours(10))
    give(order, nurse)
    with pytest.raises(Conflict) as refused:
        give(order, nurse, administered_at=T0 + hours(3))  # 7 hours before the dose already charted
    assert refused.value.code == "prn_interval"
    assert give(order, nurse, administered_at=T0 + hours(2)).administered_at == T0 + hours(2)


def test_refused_prn_offers_do_not_count_toward_the_interval(frozen, prn, nurse):
    order = prn(code="ondansetron", dose=Decimal("4"), indication="Nausea", min_interval_minutes=480)
    give(order, nurse, outcome=REFUSED)
    assert give(order, nurse).outcome == GIVEN


def test_a_prn_order_has_no_scheduled_doses(frozen, prn, nurse):
    order = prn(code="ondansetron", dose=Decimal("4"), indication="Nausea")
    with pytest.raises(ValidationFailed) as refused:
        give(order, nurse, scheduled_for=T0)
    assert refused.value.fields == {"scheduled_for": ["A PRN order has no scheduled doses."]}


def test_the_daily_cap_of_a_prn_order(frozen, prn, nurse):
    order = prn(code="loperamide", dose=Decimal("2"), indication="Loose stools", min_interval_minutes=60,
                max_doses_per_24h=2)  # fmt: skip
    give(order, nurse)
    frozen.move_to(T0 + hours(1))
    give(order, nurse)
    frozen.move_to(T0 + hours(2))
    with pytest.raises(Conflict) as refused:
        give(order, nurse)
    assert refused.value.code == "prn_daily_limit"
    frozen.move_to(T0 + hours(24) + minutes(1))
    assert give(order, nurse).outcome == GIVEN


def test_a_symptom_triggered_dose_needs_a_recent_score_in_its_band(frozen, prn, nurse, episode):
    order = prn(prn_instrument="cows", prn_min_band="moderate")
    with pytest.raises(Conflict) as refused:
        give(order, nurse)
    assert refused.value.code == "score_does_not_allow"
    assert "No COWS score in the last 2 hours" in str(refused.value)
    score(episode, nurse, total=12)  # mild
    with pytest.raises(Conflict) as refused:
        give(order, nurse)
    assert str(refused.value) == "The latest COWS is 12 (mild); this order allows a dose at moderate or worse."
    frozen.move_to(T0 + minutes(10))
    observation = score(episode, nurse, total=13)  # moderate: the lowest band that allows it
    given = give(order, nurse)
    assert given.observation == observation


def test_a_score_older_than_two_hours_no_longer_allows_a_dose(frozen, prn, nurse, episode):
    order = prn(prn_instrument="cows", prn_min_band="moderate")
    score(episode, nurse, total=20)
    frozen.move_to(T0 + hours(2) + minutes(1))
    with pytest.raises(Conflict) as refused:
        give(order, nurse)
    assert refused.value.code == "score_does_not_allow"


# --- The MAR view ---------------------------------------------------------------------------------------------


def test_the_mar_shows_which_prn_doses_the_latest_score_allows(frozen, prn, prescribe, nurse, episode):
    clonidine = prn(prn_instrument="cows", prn_min_band="moderate")
    ondansetron = prn(code="ondansetron", dose=Decimal("4"), indication="Nausea", min_interval_minutes=480)
    prn(code="lorazepam", dose=Decimal("1"), indication="Agitation", prn_instrument="ciwa_ar",
                    prn_min_band="severe", stops_at=T0 + hours(72))  # fmt: skip
    scheduled = prescribe(code="chlordiazepoxide", dose=Decimal("25"), stops_at=T0 + hours(72))
    score(episode, nurse, "cows", 14)
    score(episode, nurse, "ciwa_ar", 9)
    give(ondansetron, nurse)
    frozen.move_to(T0 + minutes(30))
    give(scheduled, nurse, scheduled_for=T0)

    mar = selectors.episode_mar(episode)
    rows = {row.order.drug.code: row for row in mar.rows}
    assert rows["clonidine"].prn.allowed_now is True
    assert rows["clonidine"].prn.score.total == 14
    assert rows["ondansetron"].prn.allowed_now is False
    assert rows["ondansetron"].prn.next_allowed_at == T0 + hours(8)
    assert rows["ondansetron"].prn.doses_in_last_24h == 1
    assert rows["lorazepam"].prn.allowed_now is False
    assert rows["lorazepam"].prn.reasons == [
        "The latest CIWA-Ar is 9 (moderate); this order allows a dose at severe or worse."
    ]
    doses = rows["chlordiazepoxide"].scheduled_doses
    assert [(dose.scheduled_for, dose.status) for dose in doses] == [(T0, "given")]
    frozen.move_to(T0 + hours(5) + minutes(5))
    doses = {row.order.drug.code: row for row in selectors.episode_mar(episode).rows}[
        "chlordiazepoxide"
    ].scheduled_doses
    assert [(dose.scheduled_for, dose.status) for dose in doses] == [(T0, "given"), (T0 + hours(6), "not_recorded")]
    assert clonidine.pk in {order.pk for order in mar.orders}
