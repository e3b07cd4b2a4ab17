"""URL root. The platform's own routes, then each app's API under /api/v1/."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.routers import SimpleRouter

from clinic.accounts.api.views import DeviceViewSet, LogoutView, MeView, TokenObtainView, TokenRotateView
from clinic.api.deletions import DeletionViewSet
from clinic.audit.api.views import AuditEventViewSet
from clinic.health import healthz

platform_router = SimpleRouter()
platform_router.register("devices", DeviceViewSet, basename="device")
platform_router.register("audit-events", AuditEventViewSet, basename="audit-event")
platform_router.register("sync/deletions", DeletionViewSet, basename="sync-deletion")

api_v1 = [
    path("auth/token/", TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRotateView.as_view(), name="token-refresh"),
    path("auth/logout/", LogoutView.as_view(), name="logout"),
    path("me/", MeView.as_view(), name="me"),
    path("", include(platform_router.urls)),
    path("", include("clinic.notifications.api.urls")),
    path("", include("patients.api.urls")),
    path("", include("treatment.api.urls")),
    path("", include("treatment.detox.api.urls")),
    path("", include("treatment.therapy.api.urls")),
    path("", include("aftercare.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[AllowAny]),
        name="api-docs",
    ),
]

handler404 = "clinic.api.errors.handler404"
handler500 = "clinic.api.errors.handler500"

admin.site.site_header = "Recovery clinic"
admin.site.site_title = "Recovery clinic admin"
admin.site.index_title = "Today at the clinic"
