"""Base API views: the contract every resource shares.

- Reads go through `scope_queryset`, so a row outside the caller's scope is a 404, never a 403; each list
  page and detail read writes audit events (writes are audited inside their services).
- POSTs honour `Idempotency-Key` (clinic.api.idempotency); detail responses carry an `ETag`, and
  PUT/PATCH/DELETE honour `If-Match` under a row lock held until the write commits (clinic.api.concurrency).
- Lists carry `sync_position`, the `updated_since` to send next time (clinic.api.sync).
"""

import json

from django.db import transaction
from django.db.models import F, QuerySet
from django.http import Http404
from django.http.request import RawPostDataException
from rest_framework import mixins, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.audit.services import FACILITY_ANNOTATION, PATIENT_ANNOTATION, audit_record_reads
from clinic.scoping import model_scope, scope_queryset

from . import idempotency
from .concurrency import etag_for, if_match_check
from .sync import sync_position

UNSAFE_UPDATES = ("PUT", "PATCH", "DELETE")


def with_audit_subjects(queryset: QuerySet) -> QuerySet:
    """The rows with their scope's patient and facility ids, for the audit of their read. The scope filter
    joins those tables already, so this adds columns, not joins, and spares the audit a query per page."""
    scope = model_scope(queryset.model)
    paths = {FACILITY_ANNOTATION: scope.facility, PATIENT_ANNOTATION: scope.patient_pk}
    annotations = {name: F(path) for name, path in paths.items() if path and "__" in path}
    return queryset.annotate(**annotations) if annotations else queryset


def _raw_body(request) -> bytes:
    try:
        return request.body
    except RawPostDataException:  # the stream was already parsed: fingerprint the parsed data instead
        return json.dumps(request.data, sort_keys=True, default=str).encode()


class IdempotentMixin:
    """Idempotency-Key handling for any DRF view (viewsets and plain APIViews)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency_record = None
        key = request.headers.get(idempotency.HEADER)
        if request.method == "POST" and key is not None:
            fingerprint = idempotency.request_fingerprint(request.method, request.get_full_path(), _raw_body(request))
            self._idempotency_record = idempotency.idempotency_claim(
                user=request.user, key=key.strip(), fingerprint=fingerprint
            )

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            record = exc.record
            headers = {**record.response_headers, "Idempotent-Replayed": "true"}
            return Response(record.response_body, status=record.response_status, headers=headers)
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record = getattr(self, "_idempotency_record", None)
        if record is not None:
            self._idempotency_record = None
            headers = {name: response[name] for name in ("ETag", "Location") if name in response}
            idempotency.idempotency_complete(
                record, status=response.status_code, body=getattr(response, "data", None), headers=headers
            )
        return response


class ScopedViewSet(IdempotentMixin, viewsets.GenericViewSet):
    """Scoped, audited reads and the write contract. Subclasses add mixins for the actions they offer."""

    action_permissions: dict[str, str] = {}
    output_serializer_class = None
    audit_reads = True

    def get_queryset(self):
        queryset = scope_queryset(super().get_queryset(), self.request.user)
        if self.audit_reads and self.action in ("list", "retrieve"):
            queryset = with_audit_subjects(queryset)
        return queryset

    def filter_queryset(self, queryset):
        # With no query parameters no filter applies (django-filter skips empty values), so skip building the
        # filter form: a detail lookup would otherwise build the list's whole form on every request.
        if not self.request.query_params:
            return queryset
        return super().filter_queryset(queryset)

    def get_serializer_class(self):
        if self.action in ("list", "retrieve") and self.output_serializer_class is not None:
            return self.output_serializer_class
        return super().get_serializer_class()

    def dispatch(self, request, *args, **kwargs):
        if request.method not in UNSAFE_UPDATES:
            return super().dispatch(request, *args, **kwargs)
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            if response.status_code >= 400:
                transaction.set_rollback(True)
            return response

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        lookup = kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        if request.method in UNSAFE_UPDATES and lookup is not None:
            # Lock the row for the rest of the request, so two writers holding the same ETag cannot both win.
            instance = self.get_queryset().select_for_update(of=("self",)).filter(pk=lookup).first()
            if instance is None:
                raise Http404
            if_match_check(request.headers.get("If-Match"), instance)

    def output(self, instance, *, status: int = 200) -> Response:
        """Serialise one instance with the output serializer, with its ETag (create/update/actions)."""
        serializer_class = self.output_serializer_class or self.serializer_class
        data = serializer_class(instance, context=self.get_serializer_context()).data
        return Response(data, status=status, headers=self.etag_headers(instance))

    @staticmethod
    def etag_headers(instance) -> dict:
        return {"ETag": etag_for(instance)} if hasattr(instance, "updated_at") else {}

    def audit_read(self, instances, action: str) -> None:
        if self.audit_reads:
            audit_record_reads(actor=self.request.user, action=action, instances=instances)


class ScopedListMixin(mixins.ListModelMixin):
    def list(self, request, *args, **kwargs):
        position = sync_position()  # before reading: rows committed later are caught next time
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = page if page is not None else list(queryset)
        self.audit_read(rows, "list")
        serializer = self.get_serializer(rows, many=True)
        if page is not None:
            response = self.get_paginated_response(serializer.data)
            response.data["sync_position"] = position.isoformat()
        else:
            response = Response(serializer.data)
        response["X-Sync-Position"] = position.isoformat()
        return response


class ScopedRetrieveMixin(mixins.RetrieveModelMixin):
    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        self.audit_read([instance], "view")
        return Response(self.get_serializer(instance).data, headers=self.etag_headers(instance))


class ScopedReadOnlyViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    pass


class ContractAPIView(IdempotentMixin, APIView):
    """A plain APIView with the same Idempotency-Key contract (for action endpoints outside viewsets)."""
