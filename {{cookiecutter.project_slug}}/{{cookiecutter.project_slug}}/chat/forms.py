from django import forms

from .protocol import MAX_ROOM_NAME_CHARS, ROOM_NAME_PATTERN, check_room_name


class RoomForm(forms.Form):
    """The name of a room to enter; the browser checks the pattern, the server decides."""

    room = forms.CharField(
        label="Room name (letters, digits, _ and -)",
        initial="lobby",
        max_length=MAX_ROOM_NAME_CHARS,
        widget=forms.TextInput(attrs={"pattern": ROOM_NAME_PATTERN}),
    )

    def clean_room(self) -> str:
        try:
            return check_room_name(self.cleaned_data["room"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None
