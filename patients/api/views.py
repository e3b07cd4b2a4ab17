import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins

from clinic.api.filters import SyncFilterSet
from clinic.api.views import ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet
from patients import services
from patients.models import Patient

from .serializers import PatientInputSerializer, PatientOutputSerializer


class PatientFilter(SyncFilterSet):
    facility = django_filters.UUIDFilter(field_name="facility_id")
    mrn = django_filters.CharFilter()

    class Meta:
        model = Patient
        fields = ["facility", "mrn", "updated_since"]


class PatientViewSet(ScopedListMixin, ScopedRetrieveMixin, mixins.UpdateModelMixin, ScopedViewSet):
    queryset = Patient.objects.select_related("facility")
    serializer_class = PatientInputSerializer
    output_serializer_class = PatientOutputSerializer
    filterset_class = PatientFilter
    action_permissions = {
        "list": "patient.view",
        "retrieve": "patient.view",
        "create": "patient.create",
        "update": "patient.change",
        "partial_update": "patient.change",
    }

    @extend_schema(request=PatientInputSerializer, responses={201: PatientOutputSerializer})
    def create(self, request, *args, **kwargs):
        serializer = PatientInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        patient = services.patient_register(actor=request.user, **serializer.validated_data)
        return self.output(patient, status=201)

    @extend_schema(request=PatientInputSerializer, responses={200: PatientOutputSerializer})
    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        patient = self.get_object()
        serializer = PatientInputSerializer(patient, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        patient = services.patient_update(actor=request.user, patient=patient, data=serializer.validated_data)
        return self.output(patient)
