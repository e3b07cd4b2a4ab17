"""The staff admin: Django's admin with a dashboard as its home page and a one-page view of each patient.

The platform knows no domain app, so what the dashboard and the patient page show comes from the apps:
each registers, from a small module of its own imported in its `AppConfig.ready`, its dashboard tiles,
patient page sections and patient page actions (see `clinic.staffadmin.registry`). Pages are served by
`ClinicAdminSite` (`clinic.staffadmin.site`), which Django uses as `admin.site` through
`ClinicAdminConfig` in INSTALLED_APPS.
"""
