import django_filters
from rest_framework import serializers

from clinic.api.filters import UtcDateTimeFilter
from clinic.api.pagination import StableCursorPagination
from clinic.api.views import ScopedListMixin, ScopedViewSet
from clinic.audit.models import AuditEvent
from clinic.audit.services import audit_record_system


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "actor",
            "actor_username",
            "actor_role",
            "action",
            "model",
            "object_id",
            "patient_id",
            "facility_id",
            "source",
            "request_id",
            "ip_address",
            "user_agent",
            "detail",
        ]


class AuditEventFilter(django_filters.FilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    actor = django_filters.NumberFilter(field_name="actor_id")
    action = django_filters.CharFilter()
    model = django_filters.CharFilter()
    since = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["patient", "actor", "action", "model", "since", "until"]


class AuditEventPagination(StableCursorPagination):
    ordering = ("-id",)


class AuditEventViewSet(ScopedListMixin, ScopedViewSet):
    """The audit log of your facilities (clinic admins only). Reading it is itself recorded."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    pagination_class = AuditEventPagination
    action_permissions = {"list": "audit_event.view"}

    def audit_read(self, instances, action):
        audit_record_system(
            actor=self.request.user,
            action="audit_log_read",
            model_label="audit.auditevent",
            detail={"events": len(instances)},
        )
