import django_filters
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from clinic.accounts.roles import Role, role_may
from clinic.api.filters import SyncFilterSet, UtcDateTimeFilter
from clinic.api.views import ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet
from clinic.errors import NotFound
from patients.models import Patient
from patients.selectors import patient_get
from treatment import selectors, services
from treatment.instruments import instrument_choices
from treatment.models import Alert, Assessment, Episode, Observation, Setting, Stage

from . import serializers as s


def _get(queryset, pk, what: str):
    """A record the caller may see, by id from a request body; otherwise 404 like a missing one."""
    try:
        found = queryset.filter(pk=pk).first()
    except (ValueError, TypeError):
        found = None
    if found is None:
        raise NotFound(f"{what} not found.")
    return found


# --- Episodes ------------------------------------------------------------------------------------------


class EpisodeFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    stage = django_filters.ChoiceFilter(choices=Stage.choices)
    setting = django_filters.ChoiceFilter(choices=Setting.choices)
    open = django_filters.BooleanFilter(field_name="closed_at", lookup_expr="isnull", label="Only open episodes.")

    class Meta:
        model = Episode
        fields = ["patient", "stage", "setting", "open", "updated_since"]


def _episode_by_role(name: str, clinical) -> PolymorphicProxySerializer:
    """Clinicians get the clinical view, front desk and patients the summary (anyOf: see clinic.api.schema)."""
    return PolymorphicProxySerializer(
        component_name=name,
        serializers=[clinical, s.EpisodeSummarySerializer],
        resource_type_field_name=None,
    )


@extend_schema_view(
    list=extend_schema(
        responses=_episode_by_role("EpisodeByRole", s.EpisodeOutputSerializer),
        description="Clinicians get the care team and next stages; front desk and patients get the summary "
        "(id, patient, stage, setting, opened_at, closed_at, previous_episode).",
    ),
    retrieve=extend_schema(responses=_episode_by_role("EpisodeDetailByRole", s.EpisodeDetailOutputSerializer)),
)
class EpisodeViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Episodes of care: at most one open per patient; moved through the stage machine by `transition`."""

    queryset = selectors.episode_queryset()
    serializer_class = s.EpisodeCreateSerializer
    output_serializer_class = s.EpisodeOutputSerializer
    filterset_class = EpisodeFilter
    action_permissions = {
        "list": "episode.view",
        "retrieve": "episode.view",
        "create": "episode.open",
        "partial_update": "episode.change",
        "transition": "episode.transition",
        "transitions": "episode_clinical.view",
    }

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            # Both views give the patient and the care team as ids, and the audit takes the facility from the
            # scope's join: loading the patient's and four users' rows only cost parsing and planning.
            queryset = queryset.select_related(None)
        return queryset

    def get_object(self):
        episode = super().get_object()
        if self.action == "retrieve" and self._clinical():
            selectors.with_transitions(episode)
        return episode

    def _clinical(self) -> bool:
        return role_may(getattr(self.request.user, "role", None), "episode_clinical.view")

    def get_serializer_class(self):
        if self.action == "list":
            return s.EpisodeOutputSerializer if self._clinical() else s.EpisodeSummarySerializer
        if self.action == "retrieve":
            return s.EpisodeDetailOutputSerializer if self._clinical() else s.EpisodeSummarySerializer
        if self.action == "partial_update":
            return s.EpisodeCareTeamSerializer
        if self.action == "transition":
            return s.TransitionInputSerializer
        return super().get_serializer_class()

    def _detail(self, episode: Episode, *, status: int = 200) -> Response:
        episode = selectors.with_transitions(selectors.episode_queryset().get(pk=episode.pk))
        data = s.EpisodeDetailOutputSerializer(episode, context=self.get_serializer_context()).data
        return Response(data, status=status, headers=self.etag_headers(episode))

    @extend_schema(request=s.EpisodeCreateSerializer, responses={201: s.EpisodeDetailOutputSerializer})
    def create(self, request, *args, **kwargs):
        """Open an episode (stage assessment). A readmission links to the patient's previous episode."""
        serializer = s.EpisodeCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        patient = patient_get(actor=request.user, patient_id=data.pop("patient"))
        previous_id = data.pop("previous_episode", None)
        previous = _get(self.get_queryset(), previous_id, "Previous episode") if previous_id else None
        episode = services.episode_open(actor=request.user, patient=patient, previous_episode=previous, **data)
        return self._detail(episode, status=201)

    @extend_schema(request=s.EpisodeCareTeamSerializer, responses={200: s.EpisodeDetailOutputSerializer})
    def partial_update(self, request, *args, **kwargs):
        """Assign or clear the care team (physician, nurse, primary_counselor, case_manager)."""
        episode = self.get_object()
        serializer = s.EpisodeCareTeamSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        episode = services.episode_update_care_team(
            actor=request.user, episode=episode, data=dict(serializer.validated_data)
        )
        return self._detail(episode)

    @extend_schema(
        request=s.TransitionInputSerializer,
        responses={
            200: s.EpisodeDetailOutputSerializer,
            409: OpenApiResponse(
                description="Not a legal move from the current stage, or a requirement is unmet; "
                "`error.details` holds `stage`, `allowed` (targets from here) and `unmet`.",
                response=s.TransitionConflictSerializer,
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Move the episode to another stage (`to`), with a `reason`; a discharge also needs a `category`."""
        episode = self.get_object()
        serializer = s.TransitionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        episode = services.episode_transition(
            actor=request.user, episode=episode, to=data["to"], reason=data["reason"], category=data.get("category")
        )
        return self._detail(episode)

    @extend_schema(responses={200: s.TransitionOutputSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def transitions(self, request, pk=None):
        """Every transition of the episode, oldest first: who, when, from, to and why."""
        episode = self.get_object()
        rows = selectors.episode_transitions(episode)
        self.audit_read(rows, "list")
        return Response(s.TransitionOutputSerializer(rows, many=True).data)


# --- Observations --------------------------------------------------------------------------------------


class ObservationFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="episode__patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    instrument = django_filters.ChoiceFilter(choices=instrument_choices)
    observed_since = UtcDateTimeFilter(field_name="observed_at", lookup_expr="gte")

    class Meta:
        model = Observation
        fields = ["patient", "episode", "instrument", "observed_since", "updated_since"]


class ObservationViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Validated instrument scores (COWS, CIWA-Ar, PHQ-9, GAD-7, AUDIT-C, DSM-5 SUD), scored by the server."""

    queryset = selectors.observation_rows()
    serializer_class = s.ObservationInputSerializer
    output_serializer_class = s.ObservationOutputSerializer
    filterset_class = ObservationFilter
    action_permissions = {"list": "observation.view", "retrieve": "observation.view", "create": "observation.create"}

    @extend_schema(request=s.ObservationInputSerializer, responses={201: s.ObservationOutputSerializer})
    def create(self, request, *args, **kwargs):
        """Record and score an instrument. Missing, unknown or out-of-range items are a 400 naming each one
        as `responses.<item>`; flags (PHQ-9 item 9, COWS >= 25, CIWA-Ar >= 16) raise their alerts at once."""
        serializer = s.ObservationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        episode = _get(selectors.episodes_to_record_on(actor=request.user), data.pop("episode"), "Episode")
        observation = services.observation_record(actor=request.user, episode=episode, **data)
        return self.output(observation, status=201)


# --- Alerts --------------------------------------------------------------------------------------------


class AlertFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    kind = django_filters.CharFilter()
    severity = django_filters.ChoiceFilter(choices=Alert.Severity.choices)
    acknowledged = django_filters.BooleanFilter(field_name="acknowledged_at", lookup_expr="isnull", exclude=True)
    target_role = django_filters.ChoiceFilter(choices=Role.choices)
    target_user = django_filters.NumberFilter(field_name="target_user_id")

    class Meta:
        model = Alert
        fields = [
            "patient",
            "episode",
            "kind",
            "severity",
            "acknowledged",
            "target_role",
            "target_user",
            "updated_since",
        ]


class AlertViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Alerts for staff to act on (never shown to patients); acknowledged once, by a person."""

    queryset = Alert.objects.all()
    serializer_class = s.AlertOutputSerializer
    output_serializer_class = s.AlertOutputSerializer
    filterset_class = AlertFilter
    action_permissions = {"list": "alert.view", "retrieve": "alert.view", "acknowledge": "alert.acknowledge"}

    @extend_schema(request=None, responses={200: s.AlertOutputSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = services.alert_acknowledge(actor=request.user, alert=self.get_object())
        return self.output(alert)


# --- Assessments ---------------------------------------------------------------------------------------


class AssessmentFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="episode__patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    status = django_filters.ChoiceFilter(choices=Assessment.Status.choices)

    class Meta:
        model = Assessment
        fields = ["patient", "episode", "status", "updated_since"]


class AssessmentViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """The assessment of an episode; `recommend` computes the level of care with every rule that fired,
    `complete` records the clinician's decision (accept, or override with a reason)."""

    queryset = selectors.assessment_queryset()
    serializer_class = s.AssessmentCreateSerializer
    output_serializer_class = s.AssessmentOutputSerializer
    filterset_class = AssessmentFilter
    action_permissions = {
        "list": "assessment.view",
        "retrieve": "assessment.view",
        "create": "assessment.change",
        "partial_update": "assessment.change",
        "recommend": "assessment.change",
        "complete": "assessment.complete",
    }

    def _output(self, assessment: Assessment, *, status: int = 200) -> Response:
        return self.output(selectors.assessment_queryset().get(pk=assessment.pk), status=status)

    @extend_schema(request=s.AssessmentCreateSerializer, responses={201: s.AssessmentOutputSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.AssessmentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        episode = _get(selectors.episode_list(actor=request.user), data.pop("episode"), "Episode")
        assessment = services.assessment_create(actor=request.user, episode=episode, **data)
        return self._output(assessment, status=201)

    @extend_schema(request=s.AssessmentUpdateSerializer, responses={200: s.AssessmentOutputSerializer})
    def partial_update(self, request, *args, **kwargs):
        """Change a draft assessment; any change withdraws the recommendation."""
        assessment = self.get_object()
        serializer = s.AssessmentUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        assessment = services.assessment_update(
            actor=request.user, assessment=assessment, data=dict(serializer.validated_data)
        )
        return self._output(assessment)

    @extend_schema(request=None, responses={200: s.AssessmentOutputSerializer})
    @action(detail=True, methods=["post"])
    def recommend(self, request, pk=None):
        """Recommend inpatient/residential or outpatient care, listing every rule that fired."""
        assessment = services.assessment_recommend(actor=request.user, assessment=self.get_object())
        return self._output(assessment)

    @extend_schema(request=s.AssessmentCompleteSerializer, responses={200: s.AssessmentOutputSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Accept the recommended setting or override it with a reason; sets the episode's setting."""
        assessment = self.get_object()
        serializer = s.AssessmentCompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assessment = services.assessment_complete(
            actor=request.user, assessment=assessment, **serializer.validated_data
        )
        return self._output(assessment)


# --- The staff app's work lists (me/...) ---------------------------------------------------------------


class MyPatientFilter(SyncFilterSet):
    stage = django_filters.ChoiceFilter(
        choices=Stage.choices, method="filter_stage", label="Stage of the open episode."
    )

    class Meta:
        model = Patient
        fields = ["stage", "updated_since"]

    def filter_stage(self, queryset, name, value):
        return queryset.filter(episodes__closed_at__isnull=True, episodes__stage=value)


class MyPatientViewSet(ScopedListMixin, ScopedViewSet):
    """`me/patients/`: the patients of your facilities whose open episode has you on its care team (physician,
    nurse, primary counselor or case manager), with that episode and your places on it."""

    queryset = Patient.objects.all()
    serializer_class = s.MyPatientSerializer
    filterset_class = MyPatientFilter
    action_permissions = {"list": "my_patient.view"}

    def get_queryset(self):
        return selectors.my_patients(actor=self.request.user)


class MyAlertFilter(SyncFilterSet):
    severity = django_filters.ChoiceFilter(choices=Alert.Severity.choices)
    kind = django_filters.CharFilter()

    class Meta:
        model = Alert
        fields = ["severity", "kind", "updated_since"]


class MyAlertViewSet(ScopedListMixin, ScopedViewSet):
    """`me/alerts/`: open alerts addressed to you by name, or to your role when they name nobody, newest first.
    Acknowledge one at `alerts/{id}/acknowledge/` (it then leaves this list)."""

    queryset = Alert.objects.all()
    serializer_class = s.AlertOutputSerializer
    filterset_class = MyAlertFilter
    action_permissions = {"list": "my_alert.view"}

    def get_queryset(self):
        return selectors.alerts_addressed_to(actor=self.request.user)
