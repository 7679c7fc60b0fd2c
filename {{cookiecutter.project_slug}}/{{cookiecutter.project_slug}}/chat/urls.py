from django.urls import path, re_path

from . import views
from .protocol import ROOM_NAME_PATTERN

app_name = "chat"

urlpatterns = [
    path("", views.enter, name="enter"),
    re_path(rf"^(?P<room_name>{ROOM_NAME_PATTERN})/$", views.room, name="room"),
]
