import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from clinic.api.filters import SyncFilterSet, UtcDateTimeFilter
from clinic.api.pagination import DueFirstPagination
from clinic.api.views import ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet
from clinic.errors import NotFound
from treatment import selectors as treatment_selectors
from treatment.detox import chart, selectors, services
from treatment.detox.models import (
    DRUG_CLASS_CHOICES,
    DetoxCourse,
    Drug,
    Frequency,
    MedicationAdministration,
    MedicationOrder,
    ObservationRound,
)
from treatment.models import Episode

from . import serializers as s
from .renderers import PNGRenderer, SVGRenderer


class RefusalMessageMixin:
    """A role refused by the role table is told which rule refused it (services.REFUSALS), not only "not
    allowed"; the rule itself stays in the role table."""

    def permission_denied(self, request, message=None, code=None):
        if message is None and request.user and request.user.is_authenticated:
            message = services.REFUSALS.get(self.action_permissions.get(self.action))
        super().permission_denied(request, message=message, code=code)


def _get(queryset, pk, what: str):
    """A record the caller may see, by id from a request body; otherwise 404 like a missing one."""
    try:
        found = queryset.filter(pk=pk).first()
    except (ValueError, TypeError):
        found = None
    if found is None:
        raise NotFound(f"{what} not found.")
    return found


# --- Drug catalogue ------------------------------------------------------------------------------------


class DrugFilter(SyncFilterSet):
    drug_class = django_filters.ChoiceFilter(choices=DRUG_CLASS_CHOICES)
    controlled = django_filters.BooleanFilter()
    active = django_filters.BooleanFilter()

    class Meta:
        model = Drug
        fields = ["drug_class", "controlled", "active", "updated_since"]


class DrugViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The drug catalogue (reference data, the same for every facility; no patient data, so reads are not
    audited). Controlled substances are flagged with their schedule."""

    queryset = selectors.drug_list()
    serializer_class = s.DrugOutputSerializer
    filterset_class = DrugFilter
    action_permissions = {"list": "drug.view", "retrieve": "drug.view"}


# --- Detox courses -------------------------------------------------------------------------------------


class CourseFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="episode__patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    active = django_filters.BooleanFilter(field_name="ended_at", lookup_expr="isnull", label="Only courses going on.")

    class Meta:
        model = DetoxCourse
        fields = ["patient", "episode", "active", "updated_since"]


class DetoxCourseViewSet(RefusalMessageMixin, ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """The detox stage of an episode: started when the episode enters detox, ended when it leaves. A physician
    sets the round interval (PATCH)."""

    queryset = selectors.course_queryset()
    serializer_class = s.DetoxCourseUpdateSerializer
    output_serializer_class = s.DetoxCourseOutputSerializer
    filterset_class = CourseFilter
    action_permissions = {
        "list": "detox_course.view",
        "retrieve": "detox_course.view",
        "partial_update": "detox_course.change",
    }

    @extend_schema(request=s.DetoxCourseUpdateSerializer, responses={200: s.DetoxCourseOutputSerializer})
    def partial_update(self, request, *args, **kwargs):
        """Set the round interval (minutes, 60-720). The open round moves to one interval after the last
        recorded round."""
        course = self.get_object()
        serializer = s.DetoxCourseUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        course = services.detox_course_set_interval(actor=request.user, course=course, **serializer.validated_data)
        return self.output(course)


# --- Observation rounds --------------------------------------------------------------------------------


class RoundFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="episode__patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    course = django_filters.UUIDFilter(field_name="course_id")
    status = django_filters.ChoiceFilter(choices=ObservationRound.Status.choices)
    due_before = UtcDateTimeFilter(field_name="due_at", lookup_expr="lte")

    class Meta:
        model = ObservationRound
        fields = ["patient", "episode", "course", "status", "due_before", "updated_since"]


class ObservationRoundViewSet(RefusalMessageMixin, ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Observation rounds of detox courses: due at the course's interval, flagged overdue 30 minutes past due,
    closed by `record` (COWS, CIWA-Ar where alcohol is co-used, and vitals)."""

    queryset = selectors.round_queryset()
    serializer_class = s.RoundRecordSerializer
    output_serializer_class = s.ObservationRoundOutputSerializer
    filterset_class = RoundFilter
    action_permissions = {
        "list": "observation_round.view",
        "retrieve": "observation_round.view",
        "record": "observation_round.record",
    }

    @extend_schema(request=s.RoundRecordSerializer, responses={200: s.ObservationRoundOutputSerializer})
    @action(detail=True, methods=["post"])
    def record(self, request, pk=None):
        """Record the round. Invalid items are named as `cows.<item>` / `ciwa_ar.<item>`, implausible vitals as
        `vitals.<key>`; COWS >= 25 or CIWA-Ar >= 16 alerts the physician at once."""
        observation_round = self.get_object()
        serializer = s.RoundRecordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        observation_round = services.round_record(
            actor=request.user, observation_round=observation_round, **serializer.validated_data
        )
        return self.output(selectors.round_queryset().get(pk=observation_round.pk))


# --- Medication orders ---------------------------------------------------------------------------------


class OrderFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="episode__patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    status = django_filters.ChoiceFilter(choices=MedicationOrder.Status.choices)
    drug = django_filters.CharFilter(field_name="drug__code")
    frequency = django_filters.ChoiceFilter(choices=Frequency.choices)

    class Meta:
        model = MedicationOrder
        fields = ["patient", "episode", "status", "drug", "frequency", "updated_since"]


class MedicationOrderViewSet(RefusalMessageMixin, ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Medication orders (physicians prescribe). Benzodiazepines need a stop date within 14 days; PRN orders an
    indication and a minimum interval; a documented allergy to the drug's class is refused unless overridden
    with `allergy_override_reason`."""

    queryset = selectors.order_queryset()
    serializer_class = s.MedicationOrderCreateSerializer
    output_serializer_class = s.MedicationOrderOutputSerializer
    filterset_class = OrderFilter
    action_permissions = {
        "list": "medication_order.view",
        "retrieve": "medication_order.view",
        "create": "medication_order.create",
        "discontinue": "medication_order.discontinue",
    }

    @extend_schema(
        request=s.MedicationOrderCreateSerializer,
        responses={
            201: s.MedicationOrderOutputSerializer,
            409: OpenApiResponse(
                description="`allergy_conflict`: the patient has a documented allergy covering the drug "
                "(`error.details.allergies`); send `allergy_override_reason` to prescribe anyway."
            ),
        },
    )
    def create(self, request, *args, **kwargs):
        serializer = s.MedicationOrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        episode = _get(treatment_selectors.episode_list(actor=request.user), data.pop("episode"), "Episode")
        order = services.medication_order_create(actor=request.user, episode=episode, **data)
        return self.output(selectors.order_queryset().get(pk=order.pk), status=201)

    @extend_schema(request=s.DiscontinueSerializer, responses={200: s.MedicationOrderOutputSerializer})
    @action(detail=True, methods=["post"])
    def discontinue(self, request, pk=None):
        """Stop the order now, with a reason."""
        order = self.get_object()
        serializer = s.DiscontinueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.medication_order_discontinue(actor=request.user, order=order, **serializer.validated_data)
        return self.output(selectors.order_queryset().get(pk=order.pk))


# --- Medication administrations ------------------------------------------------------------------------


class AdministrationFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="episode__patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    order = django_filters.UUIDFilter(field_name="order_id")
    outcome = django_filters.ChoiceFilter(choices=MedicationAdministration.Outcome.choices)
    administered_since = UtcDateTimeFilter(field_name="administered_at", lookup_expr="gte")

    class Meta:
        model = MedicationAdministration
        fields = ["patient", "episode", "order", "outcome", "administered_since", "updated_since"]


class MedicationAdministrationViewSet(RefusalMessageMixin, ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """The medication administration record: doses given, refused or held (with reason), by whom and when."""

    queryset = selectors.administration_queryset()
    serializer_class = s.MedicationAdministrationCreateSerializer
    output_serializer_class = s.MedicationAdministrationOutputSerializer
    filterset_class = AdministrationFilter
    action_permissions = {
        "list": "medication_administration.view",
        "retrieve": "medication_administration.view",
        "create": "medication_administration.create",
    }

    @extend_schema(
        request=s.MedicationAdministrationCreateSerializer,
        responses={
            201: s.MedicationAdministrationOutputSerializer,
            409: OpenApiResponse(
                description="Refused: `no_active_order`, `prn_interval` (`details.next_allowed_at`), "
                "`prn_daily_limit`, `score_does_not_allow`, `dose_not_due` or `dose_already_recorded`."
            ),
        },
    )
    def create(self, request, *args, **kwargs):
        serializer = s.MedicationAdministrationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        order = _get(selectors.order_list(actor=request.user), data.pop("order"), "Order")
        administration = services.medication_administer(actor=request.user, order=order, **data)
        return self.output(selectors.administration_queryset().get(pk=administration.pk), status=201)


# --- Per episode: withdrawal timeline, chart and MAR ---------------------------------------------------


class DetoxEpisodeViewSet(ScopedViewSet):
    """Detox views of one episode (`/episodes/{id}/...`): the withdrawal timeline, its chart and the MAR."""

    queryset = Episode.objects.select_related("patient__facility")
    action_permissions = {
        "withdrawal_timeline": "detox_course.view",
        "withdrawal_chart": "detox_course.view",
        "mar": "medication_order.view",
    }

    @extend_schema(responses={200: s.WithdrawalTimelineSerializer})
    @action(detail=True, methods=["get"], url_path="withdrawal-timeline", pagination_class=None)
    def withdrawal_timeline(self, request, pk=None):
        """Hours since last use, the expected phase (onset 12-24 h, peak days 2-3, easing after about a week)
        and the trend of the COWS/CIWA-Ar totals and pulse."""
        episode = self.get_object()
        timeline = selectors.withdrawal_timeline(episode)
        self.audit_read([episode], "withdrawal_timeline")
        return Response(s.WithdrawalTimelineSerializer(timeline).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format", str, enum=list(chart.FORMATS), description="png (default) or svg; or send an Accept header."
            )
        ],
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "image/svg+xml"): OpenApiTypes.BINARY,
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="withdrawal-chart",
        renderer_classes=[PNGRenderer, SVGRenderer],
        pagination_class=None,
    )
    def withdrawal_chart(self, request, pk=None):
        """A chart of the COWS/CIWA-Ar totals (with the alert thresholds) and pulse over time."""
        episode = self.get_object()
        image_format = request.accepted_renderer.format
        image = chart.render_withdrawal_chart(selectors.withdrawal_series(episode), image_format=image_format)
        self.audit_read([episode], "withdrawal_chart")
        return Response(image, content_type=chart.FORMATS[image_format], headers={"Cache-Control": "no-store"})

    @extend_schema(responses={200: s.MarSerializer})
    @action(detail=True, methods=["get"], pagination_class=None)
    def mar(self, request, pk=None):
        """The medication administration record of the last 24 hours: each order with its doses, scheduled
        doses and what became of them, and for PRN orders whether a dose is allowed now and why not."""
        episode = self.get_object()
        mar = selectors.episode_mar(episode)
        self.audit_read([episode], "mar")
        self.audit_read([*mar.orders, *mar.administrations], "list")
        return Response(s.MarSerializer(mar).data)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        image = isinstance(getattr(response, "accepted_renderer", None), PNGRenderer | SVGRenderer)
        if image and not isinstance(response.data, bytes):
            # Errors of the chart are JSON like everywhere else, whatever image was asked for.
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response


# --- The staff app's work list: my rounds due ----------------------------------------------------------


class MyDueRoundFilter(SyncFilterSet):
    status = django_filters.ChoiceFilter(
        choices=[(ObservationRound.Status.DUE, "Due"), (ObservationRound.Status.OVERDUE, "Overdue")]
    )
    due_before = UtcDateTimeFilter(field_name="due_at", lookup_expr="lte")

    class Meta:
        model = ObservationRound
        fields = ["status", "due_before", "updated_since"]


class MyDueRoundViewSet(ScopedListMixin, ScopedViewSet):
    """`me/due-rounds/`: open observation rounds (due or overdue), soonest first, of the open episodes you are
    the nurse or physician of; a nurse also gets those of episodes with no nurse assigned (every nurse of the
    facility covers them, as their overdue alert goes to the nurse role). Record one at
    `observation-rounds/{id}/record/`."""

    queryset = selectors.round_queryset()
    serializer_class = s.ObservationRoundOutputSerializer
    filterset_class = MyDueRoundFilter
    pagination_class = DueFirstPagination
    action_permissions = {"list": "my_due_round.view"}

    def get_queryset(self):
        return selectors.rounds_due_for(actor=self.request.user)
