from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    AftercareOutcomeViewSet,
    CheckInViewSet,
    MyCheckInDueViewSet,
    MyCheckInViewSet,
    MyRelapsePreventionPlanViewSet,
    MyReminderSettingsViewSet,
    ProviderCheckInViewSet,
    ReadmissionViewSet,
    RelapsePreventionPlanViewSet,
    RelapseViewSet,
)

router = SimpleRouter()
router.register("relapse-prevention-plans", RelapsePreventionPlanViewSet, basename="relapse-prevention-plan")
router.register("provider-check-ins", ProviderCheckInViewSet, basename="provider-check-in")
router.register("check-ins", CheckInViewSet, basename="check-in")
router.register("relapses", RelapseViewSet, basename="relapse")
router.register("aftercare-outcomes", AftercareOutcomeViewSet, basename="aftercare-outcome")
# Only POST /episodes/{id}/readmit/; the episodes resource itself is treatment's.
router.register("episodes", ReadmissionViewSet, basename="episode-readmission")
router.register("me/check-ins", MyCheckInViewSet, basename="my-check-in")
router.register("me/check-ins-due", MyCheckInDueViewSet, basename="my-check-in-due")

urlpatterns = [
    path(
        "me/relapse-prevention-plan/",
        MyRelapsePreventionPlanViewSet.as_view({"get": "retrieve"}),
        name="my-relapse-prevention-plan",
    ),
    path(
        "me/reminder-settings/",
        MyReminderSettingsViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="my-reminder-settings",
    ),
    *router.urls,
]
