"""What one request costs in SQL statements on the hot paths (bench/RESULTS.md measures the time), and that the
shortcuts behind those budgets change nothing a caller or an auditor sees."""

import datetime

import psycopg
import pytest
import time_machine
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from aftercare.api.serializers import CheckInOutputSerializer
from aftercare.models import CheckIn
from clinic.accounts.authentication import JWTAuthentication
from clinic.api import sync
from clinic.api.filters import SyncFilterSet
from clinic.api.serializers import FieldsBuiltOnceMixin
from clinic.audit.models import AuditEvent
from clinic.tests.factories import FacilityFactory
from patients.api.serializers import PatientOutputSerializer
from patients.api.views import PatientFilter
from patients.models import Patient
from patients.tests.factories import PatientFactory, patient_with_login
from treatment.api.serializers import AlertOutputSerializer, ObservationOutputSerializer, TransitionOutputSerializer
from treatment.models import EpisodeTransition, Observation
from treatment.tests.conftest import responses_totalling
from treatment.tests.factories import AlertFactory, EpisodeFactory, ObservationFactory

pytestmark = pytest.mark.django_db

COWS = responses_totalling("cows", 0)  # every item 0: a valid observation that raises no alert


def bearer(user) -> APIClient:
    """A client that authenticates like the apps do, with an access token (not force_authenticate)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def statements(queries) -> list[str]:
    """The statements that reach data (transaction control left out: inside a test it is savepoints)."""
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(control)]


def drf_way(serializer_class):
    """`serializer_class` as DRF alone would build and run it: fields built anew for each serializer, rows
    represented by DRF's Serializer.to_representation (not FieldsBuiltOnceMixin's shortcuts)."""

    class DrfWay(serializer_class):
        def get_fields(self):
            return serializers.ModelSerializer.get_fields(self)

        def to_representation(self, instance):
            return serializers.Serializer.to_representation(self, instance)

    return DrfWay


def test_patient_detail_is_three_statements_user_patient_audit(make_staff, facility):
    nurse = make_staff("nurse")
    patient = PatientFactory(facility=facility)
    client = bearer(nurse)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/patients/{patient.pk}/")
    assert response.status_code == 200
    assert len(statements(queries)) == 3, statements(queries)
    event = AuditEvent.objects.get(action="view", object_id=str(patient.pk))
    assert (event.patient_id, event.facility_id, event.actor_id) == (patient.pk, facility.pk, nurse.pk)


def test_observation_create_is_five_statements_and_audits_its_patient(make_staff, facility):
    nurse = make_staff("nurse")
    episode = EpisodeFactory(patient=PatientFactory(facility=facility), stage="detox")
    client = bearer(nurse)
    body = {"episode": str(episode.pk), "instrument": "cows", "responses": COWS}
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/observations/", body, format="json")
    assert response.status_code == 201, response.content
    # user and facilities, the scoped episode, the facility's configuration, the observation, its audit event
    assert len(statements(queries)) == 5, statements(queries)
    observation = Observation.objects.get(pk=response.json()["id"])
    event = AuditEvent.objects.get(action="create", object_id=str(observation.pk))
    assert (event.patient_id, event.facility_id) == (episode.patient_id, facility.pk)


def test_episode_detail_is_four_statements_and_reads_no_care_team_rows(make_staff, facility):
    """The care team goes out as ids: the episode read joins its patient (the scope) and no user rows."""
    nurse, physician, counselor = make_staff("nurse"), make_staff("physician"), make_staff("counselor")
    episode = EpisodeFactory(
        patient=PatientFactory(facility=facility), nurse=nurse, physician=physician, primary_counselor=counselor
    )
    EpisodeTransition.objects.create(episode=episode, from_stage="assessment", to_stage="detox", actor=physician)
    client = bearer(nurse)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/episodes/{episode.pk}/")
    assert response.status_code == 200, response.content
    # user and facilities, the scoped episode, its transitions with their actors, the audit event
    assert len(statements(queries)) == 4, statements(queries)
    assert "accounts_user" not in statements(queries)[1], statements(queries)[1]
    body = response.json()
    assert (body["physician"], body["nurse"], body["primary_counselor"], body["case_manager"]) == (
        physician.pk,
        nurse.pk,
        counselor.pk,
        None,
    )
    assert [(t["actor"], t["actor_name"]) for t in body["transitions"]] == [
        (physician.pk, physician.get_full_name() or physician.username)
    ]
    event = AuditEvent.objects.get(action="view", object_id=str(episode.pk))
    assert (event.patient_id, event.facility_id, event.actor_id) == (episode.patient_id, facility.pk, nurse.pk)


def test_check_in_create_is_six_statements_and_audits_its_patient(facility):
    patient = patient_with_login(facility=facility)
    EpisodeFactory(patient=patient)
    client = bearer(patient.user)
    body = {"craving": 2, "mood": 7, "used": False, "triggers": [], "note": ""}
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/check-ins/", body, format="json")
    assert response.status_code == 201, response.content
    # user and facilities, the patient record, the open episode, the check-in, its audit event, the plan (none)
    assert len(statements(queries)) == 6, statements(queries)
    event = AuditEvent.objects.get(action="create", object_id=response.json()["id"])
    assert (event.patient_id, event.facility_id, event.actor_id) == (patient.pk, facility.pk, patient.user_id)


def test_the_token_login_reads_the_facilities_fresh_on_every_request(make_staff, facility):
    nurse = make_staff("nurse")
    patient = PatientFactory(facility=facility)
    client = bearer(nurse)
    assert client.get(f"/api/v1/patients/{patient.pk}/").status_code == 200
    elsewhere = FacilityFactory(name="Elsewhere")
    nurse.facilities.set([elsewhere])
    assert client.get(f"/api/v1/patients/{patient.pk}/").status_code == 404
    nurse.is_active = False
    nurse.save()
    assert client.get("/api/v1/patients/").status_code == 401


def test_the_facility_ids_come_in_the_usual_order(make_staff, facility):
    nurse = make_staff("nurse")
    nurse.facilities.add(FacilityFactory(name="Aardvark House"), FacilityFactory(name="Zebra House"))
    token = RefreshToken.for_user(nurse).access_token
    loaded = JWTAuthentication().get_user(token)
    assert loaded._facility_ids == list(nurse.facilities.values_list("id", flat=True))


def test_a_recent_sync_position_is_served_again_and_is_never_later_than_a_fresh_one(monkeypatch):
    monkeypatch.setattr(sync, "_last_position", None)
    first = sync.sync_position()
    with CaptureQueriesContext(connection) as queries:
        again = sync.sync_position()
    assert again == first
    assert queries.captured_queries == []
    monkeypatch.setattr(sync, "_last_position", None)
    assert sync.sync_position() >= first


def test_a_sync_position_is_read_again_once_the_clock_moves_on_or_back(monkeypatch):
    monkeypatch.setattr(sync, "_last_position", None)
    now = timezone.now()
    for moment in (now + datetime.timedelta(seconds=2), now - datetime.timedelta(days=1)):
        with time_machine.travel(moment, tick=False):
            assert sync.sync_position() <= moment - sync.CLOCK_SKEW_MARGIN
            assert sync.sync_position() > moment - sync.CLOCK_SKEW_MARGIN - datetime.timedelta(seconds=1)


def test_output_fields_built_once_are_copied_to_each_serializer_and_serialise_the_same(facility):
    patient = PatientFactory(facility=facility)
    first, second = PatientOutputSerializer(patient), PatientOutputSerializer(patient)
    assert first.fields["mrn"] is not second.fields["mrn"]
    assert first.fields["mrn"].parent is first
    built_anew = type("BuiltAnew", (serializers.ModelSerializer,), {"Meta": PatientOutputSerializer.Meta})
    assert first.data == built_anew(patient).data


def test_fields_built_once_give_each_serializer_fields_of_its_own_and_leave_the_originals_unbound():
    class Transition(serializers.Serializer):
        to_stage = serializers.CharField()

    class Output(FieldsBuiltOnceMixin, serializers.Serializer):
        name = serializers.CharField(source="full_name")
        stage = serializers.ChoiceField(choices=["a", "b"])
        labels = serializers.ListField(child=serializers.CharField())
        next_stages = serializers.SerializerMethodField()
        transitions = Transition(many=True)

        def get_next_stages(self, instance):
            return ["b"]

    first, second = Output(), Output()
    for name in ("name", "stage", "labels", "next_stages", "transitions"):
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first
        assert second.fields[name].parent is second
    assert first.fields["labels"].child is not second.fields["labels"].child
    assert first.fields["labels"].child.parent is first.fields["labels"]
    assert first.fields["transitions"].child is not second.fields["transitions"].child
    assert first.fields["next_stages"].method_name == "get_next_stages"
    for _, original, _ in Output._fields_built_once:
        assert original.field_name is None
        assert original.parent is None
    row = type("Row", (), {"full_name": "Ann", "stage": "a", "labels": ["x"], "transitions": []})()
    assert Output(row).data == {"name": "Ann", "stage": "a", "labels": ["x"], "next_stages": ["b"], "transitions": []}


@pytest.mark.parametrize(
    "serializer_class", [PatientOutputSerializer, ObservationOutputSerializer, AlertOutputSerializer]
)
def test_each_output_serializer_built_once_serialises_like_one_built_anew(serializer_class, facility):
    patient = PatientFactory(facility=facility)
    if serializer_class is PatientOutputSerializer:
        instance = patient
    else:
        observation = ObservationFactory(episode=EpisodeFactory(patient=patient))
        instance = (
            observation
            if serializer_class is ObservationOutputSerializer
            else AlertFactory(patient=patient, episode=observation.episode)
        )

    BuiltAnew = drf_way(serializer_class)

    assert serializer_class(instance).data == BuiltAnew(instance).data
    assert serializer_class([instance], many=True).data == BuiltAnew([instance], many=True).data


def test_the_check_in_output_built_once_serialises_like_one_built_anew(facility):
    patient = patient_with_login(facility=facility)
    check_in = CheckIn.objects.create(
        patient=patient,
        episode=EpisodeFactory(patient=patient),
        craving=4,
        mood=6,
        used=True,
        triggers=["argument at home", "payday"],
        note="Called my sponsor.",
        checked_in_at=timezone.now(),
        local_date=timezone.localdate(),
    )
    check_in = CheckIn.objects.get(pk=check_in.pk)

    BuiltAnew = drf_way(CheckInOutputSerializer)

    first, second = CheckInOutputSerializer(check_in), CheckInOutputSerializer(check_in)
    assert first.fields["triggers"] is not second.fields["triggers"]
    assert first.data == BuiltAnew(check_in).data
    assert "_fields_built_once" in CheckInOutputSerializer.__dict__
    assert CheckInOutputSerializer([check_in], many=True).data == BuiltAnew([check_in], many=True).data


def test_transitions_built_once_serialise_like_ones_built_anew(make_staff, facility):
    nurse = make_staff("nurse")
    episode = EpisodeFactory(patient=PatientFactory(facility=facility))
    EpisodeTransition.objects.create(episode=episode, from_stage="assessment", to_stage="detox", actor=nurse)
    EpisodeTransition.objects.create(
        episode=episode, from_stage="detox", to_stage="discharged", actor=nurse, reason="Left.", category="ama"
    )
    transitions = list(EpisodeTransition.objects.select_related("actor").filter(episode=episode))

    BuiltAnew = drf_way(TransitionOutputSerializer)

    assert TransitionOutputSerializer(transitions, many=True).data == BuiltAnew(transitions, many=True).data
    assert "_fields_built_once" in TransitionOutputSerializer.__dict__


@pytest.mark.parametrize("path", ["episodes/{id}/", "episodes/{id}/transitions/"])
def test_an_episode_and_its_transitions_cost_the_same_for_1_and_for_6_transitions(path, make_staff, facility):
    """The episode detail and its transitions list are not paged: they must not fetch per transition."""
    physician = make_staff("physician")
    client = bearer(physician)
    counts = []
    for moves in (1, 6):
        episode = EpisodeFactory(patient=PatientFactory(facility=facility))
        EpisodeTransition.objects.bulk_create(
            EpisodeTransition(episode=episode, from_stage=source, to_stage=target, actor=make_staff("nurse"))
            for source, target in [("assessment", "detox"), ("detox", "therapy")] * 3
            if moves == 6 or (source, target) == ("assessment", "detox")
        )
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/" + path.format(id=episode.pk))
        assert response.status_code == 200, response.content
        counts.append(len(statements(queries)))
    assert counts[0] == counts[1], counts


def test_built_once_timestamps_read_the_time_zone_once_per_serializer_and_format_as_drf(facility, monkeypatch):
    patients = [PatientFactory(facility=facility) for _ in range(3)]
    drf_field = serializers.DateTimeField()
    expected = [drf_field.to_representation(patient.created_at) for patient in patients]
    reads = []
    real = timezone.get_current_timezone
    monkeypatch.setattr(timezone, "get_current_timezone", lambda: reads.append(1) or real())
    data = PatientOutputSerializer(patients, many=True).data
    assert [row["created_at"] for row in data] == expected
    assert all(value.endswith("Z") for value in expected)
    assert len(reads) == 2  # created_at and updated_at, once each for the page
    with timezone.override(datetime.timezone(datetime.timedelta(hours=2))):
        shifted = PatientOutputSerializer(patients[0]).data["created_at"]
        assert shifted == serializers.DateTimeField().to_representation(patients[0].created_at)
    assert shifted.endswith("+02:00")


def test_a_filter_form_class_is_built_once_per_filter_set_and_each_request_gets_its_own_form(facility):
    first = PatientFilter(data=QueryDict("search=Smith&status=bogus"), queryset=Patient.objects.all())
    second = PatientFilter(data=QueryDict("updated_since=2026-01-01T00:00:00Z"), queryset=Patient.objects.all())
    assert type(first.form) is type(second.form)
    assert first.form.fields["search"] is not second.form.fields["search"]
    assert not first.is_valid()
    assert "status" in first.form.errors
    assert second.is_valid()
    assert second.form.cleaned_data["updated_since"] == datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

    class WithOwnInit(SyncFilterSet):
        class Meta:
            model = Patient
            fields = ["updated_since"]

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.filters["updated_since"].label = f"Since ({id(self)})"

    forms = [WithOwnInit(data=QueryDict(), queryset=Patient.objects.all()).form for _ in range(2)]
    assert type(forms[0]) is not type(forms[1])
    assert forms[0].fields["updated_since"].label != forms[1].fields["updated_since"].label


def _subclasses(cls) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_serializer_built_once_represents_each_row_exactly_as_drf_does(make_staff, facility):
    """FieldsBuiltOnceMixin's representation (plain columns read directly) against DRF's own, for every output
    serializer that uses it, on rows with their optional columns empty and filled."""
    from aftercare.tests.factories import CheckInFactory
    from patients.tests.factories import DisclosureFactory

    physician, nurse = make_staff("physician"), make_staff("nurse")
    bare = PatientFactory(facility=facility)
    full = patient_with_login(facility=facility)
    first = EpisodeFactory(
        patient=full,
        physician=physician,
        nurse=nurse,
        stage="discharged",
        closed_at=timezone.now(),
        discharge_reason="completed",
    )
    second = EpisodeFactory(patient=full, previous_episode=first)
    EpisodeTransition.objects.create(episode=first, from_stage="assessment", to_stage="detox", actor=nurse)
    ObservationFactory(episode=first, substance="kratom")
    AlertFactory(patient=bare)
    AlertFactory(
        patient=full, episode=second, target_user=nurse, acknowledged_at=timezone.now(), acknowledged_by=physician
    )
    CheckInFactory(episode=first, triggers=["payday"], note="Called my sponsor.")
    DisclosureFactory(patient=full)

    checked = set()
    for serializer_class in _subclasses(FieldsBuiltOnceMixin):
        model = getattr(getattr(serializer_class, "Meta", None), "model", None)
        if model is None or not serializer_class.__module__.endswith("serializers"):
            continue
        rows = list(model._default_manager.order_by("pk"))
        assert rows, f"no {model.__name__} row to check {serializer_class.__name__} on"
        drf = drf_way(serializer_class)
        for row in rows:
            assert serializer_class(row).data == drf(row).data, serializer_class.__name__
        assert serializer_class(rows, many=True).data == drf(rows, many=True).data
        checked.add(serializer_class.__name__)
    assert {"PatientOutputSerializer", "EpisodeDetailOutputSerializer", "DisclosureOutputSerializer"} <= checked


def test_transitions_read_with_their_actors_names_show_the_names_the_actor_row_gives(make_staff, facility):
    from treatment.selectors import episode_transitions

    episode = EpisodeFactory(patient=PatientFactory(facility=facility))
    named, unnamed = make_staff("nurse", first_name=" Ana ", last_name="Diaz"), make_staff("nurse", first_name="")
    unnamed.last_name = ""
    unnamed.save()
    EpisodeTransition.objects.create(episode=episode, from_stage="assessment", to_stage="detox", actor=named)
    EpisodeTransition.objects.create(episode=episode, from_stage="detox", to_stage="therapy", actor=unnamed)
    read = episode_transitions(episode)
    loaded = list(EpisodeTransition.objects.select_related("actor").filter(episode=episode))
    assert TransitionOutputSerializer(read, many=True).data == TransitionOutputSerializer(loaded, many=True).data
    assert [t["actor_name"] for t in TransitionOutputSerializer(read, many=True).data] == [
        "Ana  Diaz",
        unnamed.username,
    ]


@pytest.mark.django_db(transaction=True)
def test_prepared_statements_keep_working_after_a_migration_adds_a_column(make_staff, facility):
    """Statements repeated on a connection are prepared (server-side binding). A prepared statement whose
    result columns come from "*" fails once another connection (a deploy's `migrate`) adds a column ("cached
    plan must not change result type"), breaking every worker until it restarts: the hot statements name
    their columns."""
    nurse = make_staff("nurse")
    patient = PatientFactory(facility=facility)
    client = bearer(nurse)
    paths = [f"/api/v1/patients/{patient.pk}/", "/api/v1/patients/"]
    for _ in range(7):  # past psycopg's prepare threshold (5)
        for path in paths:
            assert client.get(path).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] >= 3
    tables = ("accounts_user", "patients_patient", "audit_auditevent")
    migrate = psycopg.connect(dbname=connection.settings_dict["NAME"], **_server(), autocommit=True)
    try:
        for table in tables:
            migrate.execute(f"ALTER TABLE {table} ADD COLUMN added_by_a_migration integer")
        for path in paths:
            assert client.get(path).status_code == 200
    finally:
        for table in tables:
            migrate.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS added_by_a_migration")
        migrate.close()


def _server() -> dict:
    settings = connection.settings_dict
    given = {
        "host": settings["HOST"],
        "port": settings["PORT"],
        "user": settings["USER"],
        "password": settings["PASSWORD"],
    }
    return {key: value for key, value in given.items() if value}
