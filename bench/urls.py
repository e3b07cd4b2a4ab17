"""The API as deployed, plus the bare Django floor views under /bench/floor/ (bench.floor)."""

from django.urls import include, path

from clinic.urls import handler404, handler500  # noqa: F401 (the same error handlers as the API)
from clinic.urls import urlpatterns as api_urlpatterns

urlpatterns = [path("bench/floor/", include("bench.floor")), *api_urlpatterns]
