"""Base API views: scoped querysets and audited reads, shared by every resource.

A resource view states its model's queryset, the role-table action per viewset action, and its serializers.
Reads go through `scope_queryset`, so a row outside the caller's scope is a 404, never a 403. Each list page
and detail read writes audit events; writes are audited inside their services.
"""

from rest_framework import mixins, viewsets
from rest_framework.response import Response

from clinic.audit.services import audit_record_reads
from clinic.scoping import scope_queryset


class ScopedViewSet(viewsets.GenericViewSet):
    """Scoped, audited reads. Subclasses add mixins for the actions they offer."""

    action_permissions: dict[str, str] = {}
    output_serializer_class = None
    audit_reads = True

    def get_queryset(self):
        return scope_queryset(super().get_queryset(), self.request.user)

    def get_serializer_class(self):
        if self.action in ("list", "retrieve") and self.output_serializer_class is not None:
            return self.output_serializer_class
        return super().get_serializer_class()

    def output(self, instance, *, status: int = 200, context_instance=None) -> Response:
        """Serialise one instance with the output serializer (used by create/update/action endpoints)."""
        serializer_class = self.output_serializer_class or self.serializer_class
        return Response(serializer_class(instance, context=self.get_serializer_context()).data, status=status)

    def audit_read(self, instances, action: str) -> None:
        if self.audit_reads:
            audit_record_reads(actor=self.request.user, action=action, instances=instances)


class ScopedListMixin(mixins.ListModelMixin):
    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = page if page is not None else list(queryset)
        self.audit_read(rows, "list")
        serializer = self.get_serializer(rows, many=True)
        if page is not None:
            return self.get_paginated_response(serializer.data)
        return Response(serializer.data)


class ScopedRetrieveMixin(mixins.RetrieveModelMixin):
    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        self.audit_read([instance], "view")
        return Response(self.get_serializer(instance).data)


class ScopedReadOnlyViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    pass
