from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_safe

from .forms import RoomForm
from .protocol import CloseCode
from .routing import socket_path


@require_safe
def enter(request: HttpRequest) -> HttpResponse:
    """The room form; submitted, it leads to that room's page, or says what is wrong."""
    form = RoomForm(request.GET or None)
    if form.is_valid():
        return redirect("chat:room", room_name=form.cleaned_data["room"])
    status = 400 if form.is_bound else 200
    return render(request, "chat/enter.html", {"form": form}, status=status)


@require_safe
def room(request: HttpRequest, room_name: str) -> HttpResponse:
    """The chat page of one room, with what its script needs to know (chat-config)."""
    context = {"room_name": room_name, "chat": client_config(room_name)}
    return render(request, "chat/room.html", context)


def client_config(room_name: str) -> dict[str, Any]:
    """What chat.js is told, from the Python that defines it: no copies in the script."""
    return {
        "room": room_name,
        "socketPath": socket_path(room_name),
        "loginUrl": login_url(),
        "closeCodes": {code.name: int(code) for code in CloseCode},
        "maxMessageChars": settings.WS_MAX_MESSAGE_CHARS,
    }


def login_url() -> str | None:
    """The login page, where the project has one."""
    try:
        return reverse("login")
    except NoReverseMatch:
        return None
