import json

import django_filters
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from clinic.api.concurrency import etag_for_version, if_match_check_etag
from clinic.api.filters import SyncFilterSet, UtcDateTimeFilter
from clinic.api.pagination import DueFirstPagination
from clinic.api.views import ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet
from clinic.audit.services import audit_record_system
from clinic.errors import NotFound, ValidationFailed
from patients.models import Patient
from patients.selectors import own_patient_record
from treatment import selectors as treatment_selectors
from treatment.api.serializers import EpisodeDetailOutputSerializer
from treatment.models import Episode, Stage

from .. import selectors, services
from ..models import CheckIn, ProviderCheckIn, Relapse, RelapsePreventionPlan
from . import serializers as s

# --- Relapse-prevention plans --------------------------------------------------------------------------


class PlanFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="episode__patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")

    class Meta:
        model = RelapsePreventionPlan
        fields = ["patient", "episode", "updated_since"]


TRIGGER_ID = OpenApiParameter("trigger_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class RelapsePreventionPlanViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Relapse-prevention plans: triggers with coping strategies, the craving action plan, support contacts and
    groups, reasons for recovery. Staff write them; a patient reads their own, adds their own triggers and
    coping strategies (marked `authored_by_patient`) and chooses their daily check-in prompt time."""

    queryset = selectors.plan_queryset()
    serializer_class = s.PlanCreateSerializer
    output_serializer_class = s.PlanOutputSerializer
    filterset_class = PlanFilter
    action_permissions = {
        "list": "relapse_prevention_plan.view",
        "retrieve": "relapse_prevention_plan.view",
        "create": "relapse_prevention_plan.change",
        "partial_update": "relapse_prevention_plan.change",
        "add_trigger": "relapse_prevention_plan.add_trigger",
        "trigger": "relapse_prevention_plan.change",
        "add_coping_strategy": "relapse_prevention_plan.add_coping_strategy",
        "remove_coping_strategy": "relapse_prevention_plan.change",
        "check_in_prompt": "check_in_prompt.change",
    }

    def _plan(self, plan: RelapsePreventionPlan, *, status: int = 200) -> Response:
        return self.output(selectors.plan_queryset().get(pk=plan.pk), status=status)

    def _trigger(self, plan: RelapsePreventionPlan, trigger_id):
        return selectors.scoped_get(plan.triggers.all(), trigger_id, "Trigger")

    @extend_schema(request=s.PlanCreateSerializer, responses={201: s.PlanOutputSerializer})
    def create(self, request, *args, **kwargs):
        """Write the plan of an open episode (one per episode), with its first triggers."""
        serializer = s.PlanCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        episode = selectors.scoped_get(
            treatment_selectors.episode_list(actor=request.user), data.pop("episode"), "Episode"
        )
        plan = services.relapse_prevention_plan_create(actor=request.user, episode=episode, **data)
        return self._plan(plan, status=201)

    @extend_schema(request=s.PlanUpdateSerializer, responses={200: s.PlanOutputSerializer})
    def partial_update(self, request, *args, **kwargs):
        plan = self.get_object()
        serializer = s.PlanUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        plan = services.relapse_prevention_plan_update(
            actor=request.user, plan=plan, data=dict(serializer.validated_data)
        )
        return self._plan(plan)

    @extend_schema(request=s.TriggerInputSerializer, responses={201: s.PlanOutputSerializer})
    @action(detail=True, methods=["post"], url_path="triggers")
    def add_trigger(self, request, pk=None):
        """Add a trigger with its coping strategies (a patient's are marked as theirs)."""
        plan = self.get_object()
        serializer = s.TriggerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.relapse_trigger_add(actor=request.user, plan=plan, **serializer.validated_data)
        return self._plan(plan, status=201)

    @extend_schema(
        methods=["PATCH"],
        request=s.TriggerUpdateSerializer,
        responses={200: s.PlanOutputSerializer},
        parameters=[TRIGGER_ID],
    )
    @extend_schema(methods=["DELETE"], request=None, responses={200: s.PlanOutputSerializer}, parameters=[TRIGGER_ID])
    @action(detail=True, methods=["patch", "delete"], url_path=r"triggers/(?P<trigger_id>[^/.]+)")
    def trigger(self, request, pk=None, trigger_id=None):
        """Staff change a trigger's category or description, or remove it with its coping strategies."""
        plan = self.get_object()
        trigger = self._trigger(plan, trigger_id)
        if request.method == "DELETE":
            services.relapse_trigger_remove(actor=request.user, trigger=trigger)
        else:
            serializer = s.TriggerUpdateSerializer(data=request.data, partial=True)
            serializer.is_valid(raise_exception=True)
            services.relapse_trigger_update(actor=request.user, trigger=trigger, data=dict(serializer.validated_data))
        return self._plan(plan)

    @extend_schema(
        request=s.CopingStrategyInputSerializer, responses={201: s.PlanOutputSerializer}, parameters=[TRIGGER_ID]
    )
    @action(detail=True, methods=["post"], url_path=r"triggers/(?P<trigger_id>[^/.]+)/coping-strategies")
    def add_coping_strategy(self, request, pk=None, trigger_id=None):
        """Add a coping strategy to a trigger (a patient's is marked as theirs)."""
        plan = self.get_object()
        trigger = self._trigger(plan, trigger_id)
        serializer = s.CopingStrategyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.coping_strategy_add(actor=request.user, trigger=trigger, text=serializer.validated_data["text"])
        return self._plan(plan, status=201)

    @extend_schema(
        request=None,
        responses={200: s.PlanOutputSerializer},
        parameters=[OpenApiParameter("strategy_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["delete"], url_path=r"coping-strategies/(?P<strategy_id>[^/.]+)")
    def remove_coping_strategy(self, request, pk=None, strategy_id=None):
        plan = self.get_object()
        strategy = selectors.scoped_get(selectors.coping_strategy_queryset(plan), strategy_id, "Coping strategy")
        services.coping_strategy_remove(actor=request.user, strategy=strategy)
        return self._plan(plan)

    @extend_schema(request=s.PromptTimeSerializer, responses={200: s.PlanOutputSerializer})
    @action(detail=True, methods=["patch"], url_path="check-in-prompt")
    def check_in_prompt(self, request, pk=None):
        """Choose the local time of the daily check-in prompt (null: no prompt); the next prompt moves at once."""
        plan = self.get_object()
        serializer = s.PromptTimeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = services.check_in_prompt_time_set(
            actor=request.user, plan=plan, prompt_time=serializer.validated_data["check_in_prompt_time"]
        )
        return self._plan(plan)


# --- Provider check-ins --------------------------------------------------------------------------------


class ProviderCheckInFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="episode__patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    status = django_filters.ChoiceFilter(choices=ProviderCheckIn.Status.choices)
    provider = django_filters.NumberFilter(field_name="provider_id")
    due_before = UtcDateTimeFilter(field_name="due_at", lookup_expr="lt")
    due_after = UtcDateTimeFilter(field_name="due_at", lookup_expr="gte")

    class Meta:
        model = ProviderCheckIn
        fields = ["patient", "episode", "status", "provider", "due_before", "due_after", "updated_since"]


class ProviderCheckInViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Follow-up check-ins scheduled when an episode enters aftercare (by default 7, 30, 90, 180 and 365 days
    later), each held by a provider who is reminded the day before. Not completed within the facility's grace
    period, a check-in becomes `missed` and the case manager is alerted. Discharge cancels those remaining."""

    queryset = ProviderCheckIn.objects.select_related("episode")
    serializer_class = s.ProviderCheckInUpdateSerializer
    output_serializer_class = s.ProviderCheckInOutputSerializer
    filterset_class = ProviderCheckInFilter
    action_permissions = {
        "list": "provider_check_in.view",
        "retrieve": "provider_check_in.view",
        "partial_update": "provider_check_in.change",
        "complete": "provider_check_in.complete",
    }

    @extend_schema(request=s.ProviderCheckInUpdateSerializer, responses={200: s.ProviderCheckInOutputSerializer})
    def partial_update(self, request, *args, **kwargs):
        """Hand a scheduled check-in to another provider and/or move it to a later time."""
        check_in = self.get_object()
        serializer = s.ProviderCheckInUpdateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        check_in = services.provider_check_in_update(actor=request.user, check_in=check_in, **serializer.validated_data)
        return self.output(check_in)

    @extend_schema(request=s.ProviderCheckInCompleteSerializer, responses={200: s.ProviderCheckInOutputSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Record the check-in: its outcome and a note (a missed one may still be completed, late)."""
        check_in = self.get_object()
        serializer = s.ProviderCheckInCompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        check_in = services.provider_check_in_complete(
            actor=request.user, check_in=check_in, **serializer.validated_data
        )
        return self.output(check_in)


# --- Self check-ins ------------------------------------------------------------------------------------


class CheckInFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    since = UtcDateTimeFilter(field_name="checked_in_at", lookup_expr="gte")
    used = django_filters.BooleanFilter()

    class Meta:
        model = CheckIn
        fields = ["patient", "episode", "since", "used", "updated_since"]


class OwnCheckInCreateMixin:
    """POST: the caller, a patient, submits a check-in for their own record (both `check-ins/` and
    `me/check-ins/`)."""

    @extend_schema(request=s.CheckInInputSerializer, responses={201: s.CheckInOutputSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.CheckInInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        patient = own_patient_record(actor=request.user)
        check_in = services.check_in_submit(actor=request.user, patient=patient, **serializer.validated_data)
        return self.output(check_in, status=201)


class CheckInViewSet(OwnCheckInCreateMixin, ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Patients' own daily check-ins: craving and mood (0-10), any use since the last one, triggers met, a note.
    A patient posts for themself; staff read them per patient (`?patient=`). Use reported, craving >= 8 or
    two missed days in a row alert the primary counselor."""

    queryset = CheckIn.objects.all()
    serializer_class = s.CheckInInputSerializer
    output_serializer_class = s.CheckInOutputSerializer
    filterset_class = CheckInFilter
    action_permissions = {"list": "check_in.view", "retrieve": "check_in.view", "create": "check_in.create"}


# --- Relapses and readmission --------------------------------------------------------------------------


class RelapseFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="episode__patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")

    class Meta:
        model = Relapse
        fields = ["patient", "episode", "updated_since"]


class RelapseViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Relapse events: when, the substance, the context and what helped. A learning point, not a failure;
    readmission is a separate step (`POST /episodes/{id}/readmit/`)."""

    queryset = Relapse.objects.select_related("episode")
    serializer_class = s.RelapseInputSerializer
    output_serializer_class = s.RelapseOutputSerializer
    filterset_class = RelapseFilter
    action_permissions = {"list": "relapse.view", "retrieve": "relapse.view", "create": "relapse.record"}

    @extend_schema(request=s.RelapseInputSerializer, responses={201: s.RelapseOutputSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.RelapseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        episode = selectors.scoped_get(
            treatment_selectors.episode_list(actor=request.user), data.pop("episode"), "Episode"
        )
        relapse = services.relapse_record(actor=request.user, episode=episode, **data)
        return self.output(relapse, status=201)


class ReadmissionViewSet(ScopedViewSet):
    """`POST /episodes/{id}/readmit/`: close the episode if it is open and open a new one in assessment linked
    to it (`previous_episode`), with the same care team, in one step."""

    queryset = treatment_selectors.episode_queryset()
    serializer_class = s.ReadmitInputSerializer
    action_permissions = {"readmit": "episode.readmit"}

    @extend_schema(request=s.ReadmitInputSerializer, responses={201: EpisodeDetailOutputSerializer})
    @action(detail=True, methods=["post"])
    def readmit(self, request, pk=None):
        episode = self.get_object()
        serializer = s.ReadmitInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        relapse_id = serializer.validated_data.get("relapse")
        relapse = (
            selectors.scoped_get(selectors.relapse_list(actor=request.user), relapse_id, "Relapse")
            if relapse_id
            else None
        )
        readmission = services.episode_readmit(
            actor=request.user, episode=episode, reason=serializer.validated_data["reason"], relapse=relapse
        )
        readmission = treatment_selectors.with_transitions(
            treatment_selectors.episode_queryset().get(pk=readmission.pk)
        )
        return Response(EpisodeDetailOutputSerializer(readmission, context=self.get_serializer_context()).data, 201)


# --- Outcomes ------------------------------------------------------------------------------------------


class OutcomeFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    stage = django_filters.ChoiceFilter(choices=Stage.choices)
    facility = django_filters.UUIDFilter(field_name="patient__facility_id")

    class Meta:
        model = Episode
        fields = ["patient", "stage", "facility", "updated_since"]


class EpisodeOutcomeRowSerializer(s.EpisodeOutcomeSerializer):
    """Serialises an episode of `selectors.outcome_queryset()` as its figures (computed from annotations)."""

    def to_representation(self, instance):
        now = self.context.get("now") or timezone.now()
        return super().to_representation(selectors.episode_outcome(instance, now=now))


class FacilityQuerySerializer(drf_serializers.Serializer):
    facility = drf_serializers.UUIDField()


@extend_schema_view(
    list=extend_schema(responses=s.EpisodeOutcomeSerializer),
    retrieve=extend_schema(responses=s.EpisodeOutcomeSerializer),
)
class AftercareOutcomeViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Aftercare outcome figures per episode (every episode that entered aftercare; the id is the episode's) and
    per facility (`facility/?facility=<id>`): days since discharge to aftercare, check-in adherence, provider
    check-ins completed on time, relapses and readmissions."""

    queryset = selectors.outcome_queryset()
    serializer_class = EpisodeOutcomeRowSerializer
    filterset_class = OutcomeFilter
    action_permissions = {
        "list": "aftercare_outcome.view",
        "retrieve": "aftercare_outcome.view",
        "facility": "aftercare_outcome.view_facility",
    }

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(
        parameters=[OpenApiParameter("facility", OpenApiTypes.UUID, required=True, description="One of yours.")],
        responses={200: s.FacilityOutcomeSerializer},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filterset_class=None)
    def facility(self, request):
        """One facility's figures over every episode that entered aftercare there (no patient's data)."""
        query = FacilityQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise ValidationFailed("Name the facility.", fields={"facility": ["A facility id is required."]})
        facility = selectors.facility_for(actor=request.user, facility_id=query.validated_data["facility"])
        summary = selectors.facility_outcome(facility=facility, now=timezone.now())
        audit_record_system(
            actor=request.user, action="view", model_label="aftercare.facility_outcome", facility_id=facility.pk
        )
        return Response(s.FacilityOutcomeSerializer(summary).data)


# --- The patient app's own corner (me/...) -------------------------------------------------------------


class MyRelapsePreventionPlanViewSet(ScopedRetrieveMixin, ScopedViewSet):
    """`GET /me/relapse-prevention-plan/`: your current plan (that of your open episode, else your latest), with
    triggers and coping strategies. Read-only here: add your own triggers and strategies, or choose the daily
    check-in time, through `relapse-prevention-plans/{id}/...` and `me/reminder-settings/`."""

    queryset = selectors.plan_queryset()
    serializer_class = s.PlanOutputSerializer
    action_permissions = {"retrieve": "my_relapse_prevention_plan.view"}

    def get_object(self):
        plan = selectors.own_plans(self.get_queryset(), self.request.user).first()
        if plan is None:
            raise NotFound("You have no relapse-prevention plan yet.")
        return plan


class MyCheckInFilter(SyncFilterSet):
    since = UtcDateTimeFilter(field_name="checked_in_at", lookup_expr="gte")
    used = django_filters.BooleanFilter()

    class Meta:
        model = CheckIn
        fields = ["since", "used", "updated_since"]


class MyCheckInViewSet(OwnCheckInCreateMixin, ScopedListMixin, ScopedViewSet):
    """`me/check-ins/`: your daily check-ins (newest first) and a new one. POST honours `Idempotency-Key`, so a
    retry from a phone that lost its connection never records the same check-in twice."""

    queryset = CheckIn.objects.all()
    serializer_class = s.CheckInInputSerializer
    output_serializer_class = s.CheckInOutputSerializer
    filterset_class = MyCheckInFilter
    action_permissions = {"list": "my_check_in.view", "create": "my_check_in.create"}

    def get_queryset(self):
        return super().get_queryset().filter(patient__user_id=self.request.user.pk)


class MyReminderSettingsViewSet(ScopedViewSet):
    """`me/reminder-settings/`: the channels you agreed to be reminded on, your preferred channel, your quiet
    hours (in your time zone) and the time of your daily check-in prompt. PATCH changes any of them in one step
    and honours If-Match with the ETag of GET (412 when they changed since)."""

    queryset = Patient.objects.all()
    serializer_class = s.ReminderSettingsUpdateSerializer
    action_permissions = {"retrieve": "my_reminder_settings.view", "partial_update": "my_reminder_settings.change"}

    @staticmethod
    def _body(settings: selectors.ReminderSettings) -> tuple[dict, str]:
        data = s.ReminderSettingsOutputSerializer(settings).data
        return data, etag_for_version(json.dumps(data, sort_keys=True, default=str))

    @extend_schema(responses={200: s.ReminderSettingsOutputSerializer})
    def retrieve(self, request, *args, **kwargs):
        settings = selectors.reminder_settings(own_patient_record(actor=request.user))
        self.audit_read([settings.patient, *([settings.plan] if settings.plan else [])], "view")
        data, etag = self._body(settings)
        return Response(data, headers={"ETag": etag})

    @extend_schema(request=s.ReminderSettingsUpdateSerializer, responses={200: s.ReminderSettingsOutputSerializer})
    def partial_update(self, request, *args, **kwargs):
        patient = own_patient_record(actor=request.user, for_update=True)  # held until the write commits
        _, current = self._body(selectors.reminder_settings(patient))
        if_match_check_etag(request.headers.get("If-Match"), current)
        serializer = s.ReminderSettingsUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        settings = services.reminder_settings_update(
            actor=request.user, patient=patient, data=dict(serializer.validated_data)
        )
        data, etag = self._body(settings)
        return Response(data, headers={"ETag": etag})


# --- The staff app's work lists (me/...) ---------------------------------------------------------------


class MyCheckInDueFilter(SyncFilterSet):
    status = django_filters.ChoiceFilter(
        choices=[(ProviderCheckIn.Status.SCHEDULED, "Scheduled"), (ProviderCheckIn.Status.MISSED, "Missed")]
    )
    due_before = UtcDateTimeFilter(field_name="due_at", lookup_expr="lt")

    class Meta:
        model = ProviderCheckIn
        fields = ["status", "due_before", "updated_since"]


class MyCheckInDueViewSet(ScopedListMixin, ScopedViewSet):
    """`me/check-ins-due/`: the follow-up check-ins you hold that are still to do (scheduled, or missed and still
    completable), soonest first. Complete them at `provider-check-ins/{id}/complete/`."""

    queryset = ProviderCheckIn.objects.select_related("episode")
    serializer_class = s.ProviderCheckInOutputSerializer
    filterset_class = MyCheckInDueFilter
    pagination_class = DueFirstPagination
    action_permissions = {"list": "my_check_in_due.view"}

    def get_queryset(self):
        return selectors.provider_check_ins_due(actor=self.request.user)
