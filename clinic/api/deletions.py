import django_filters
from rest_framework import mixins, serializers

from clinic.api.filters import UtcDateTimeFilter
from clinic.api.pagination import StableCursorPagination
from clinic.api.views import ScopedViewSet

from .models import Tombstone
from .sync import sync_position, tombstone_list


class TombstoneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tombstone
        fields = ["id", "model", "object_id", "reason", "occurred_at"]


class TombstoneFilter(django_filters.FilterSet):
    since = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    model = django_filters.CharFilter()

    class Meta:
        model = Tombstone
        fields = ["since", "model"]


class TombstonePagination(StableCursorPagination):
    ordering = ("occurred_at", "id")


class DeletionViewSet(mixins.ListModelMixin, ScopedViewSet):
    """What was deleted or left your scope since `since`: drop these ids from the offline copy."""

    queryset = Tombstone.objects.none()
    serializer_class = TombstoneSerializer
    filterset_class = TombstoneFilter
    pagination_class = TombstonePagination
    action_permissions = {"list": "sync.view"}
    audit_reads = False

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return tombstone_list(actor=self.request.user)

    def list(self, request, *args, **kwargs):
        position = sync_position()
        response = super().list(request, *args, **kwargs)
        response.data["sync_position"] = position.isoformat()
        return response
