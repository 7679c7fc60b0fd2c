"""URL configuration: pages and the health check."""

from django.contrib import admin
{%- if cookiecutter.use_auth or cookiecutter.include_sample_consumer %}
from django.urls import include, path
{%- else %}
from django.urls import path
{%- endif %}

from {{ cookiecutter.project_slug }}.core import health
from {{ cookiecutter.project_slug }}.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("health/", health.health, name="health"),
{%- if cookiecutter.use_auth %}
    path("accounts/", include("{{ cookiecutter.project_slug }}.users.urls")),
{%- endif %}
{%- if cookiecutter.include_sample_consumer %}
    path("chat/", include("{{ cookiecutter.project_slug }}.chat.urls")),
{%- endif %}
    path("admin/", admin.site.urls),
]
