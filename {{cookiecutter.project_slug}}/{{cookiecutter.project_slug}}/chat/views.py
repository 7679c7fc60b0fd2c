from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def room(request: HttpRequest, room_name: str) -> HttpResponse:
    """The chat page of one room; the JavaScript client connects to /ws/chat/<room>/."""
    return render(request, "chat/room.html", {"room_name": room_name})
