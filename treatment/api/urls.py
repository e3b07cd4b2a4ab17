from rest_framework.routers import SimpleRouter

from .views import AlertViewSet, AssessmentViewSet, EpisodeViewSet, ObservationViewSet

router = SimpleRouter()
router.register("episodes", EpisodeViewSet, basename="episode")
router.register("observations", ObservationViewSet, basename="observation")
router.register("alerts", AlertViewSet, basename="alert")
router.register("assessments", AssessmentViewSet, basename="assessment")

urlpatterns = router.urls
