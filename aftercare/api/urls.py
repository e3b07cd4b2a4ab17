from rest_framework.routers import SimpleRouter

from .views import (
    AftercareOutcomeViewSet,
    CheckInViewSet,
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

urlpatterns = router.urls
