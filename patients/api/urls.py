from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("patients", views.PatientViewSet, basename="patient")
router.register("substance-use-history", views.SubstanceUseViewSet, basename="substance-use-history")
router.register("conditions", views.ConditionViewSet, basename="condition")
router.register("allergies", views.AllergyViewSet, basename="allergy")
router.register("patient-contacts", views.ContactViewSet, basename="patient-contact")
router.register("communication-consents", views.CommunicationConsentViewSet, basename="communication-consent")
router.register("disclosure-consents", views.DisclosureConsentViewSet, basename="disclosure-consent")
router.register("disclosures", views.DisclosureViewSet, basename="disclosure")
router.register("me/support-contacts", views.MySupportContactViewSet, basename="my-support-contact")

urlpatterns = [
    path("me/profile/", views.MyProfileView.as_view(), name="my-profile"),
    *router.urls,
]
