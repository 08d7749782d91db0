"""Rules for the text people type: required, bounded, and free of control characters.

Control characters in stored text forge log lines and terminal output (a title holding "\\n" or ESC
sequences), so titles and names may hold none, and multi-line text (descriptions, comments) only
newlines and tabs. Text that arrives from monitoring tools is cleaned instead of refused, so that an
alert is never lost over a stray character.
"""

from __future__ import annotations

import re

from incidentcore.errors import FieldError, ValidationFailed

# The size of what people type, stated once: the use cases check these, and the HTTP layer's request
# schemas reference them, so the API documents the limits it enforces.
TITLE_MAX = 300  # incident titles
NAME_MAX = 200  # people's and escalation policies' names
SHORT_NAME_MAX = 100  # team and integration names, an assignee's role label
DESCRIPTION_MAX = 20_000  # incident descriptions
COMMENT_MAX = 20_000
NOTE_MAX = 2000  # team and policy descriptions
ADDRESS_MAX = 2000  # a notification address or URL
EMAIL_MAX = 254
PASSWORD_MIN = 8
PASSWORD_MAX = 4096
SNOOZE_MIN_MINUTES = 1
SNOOZE_MAX_MINUTES = 7 * 24 * 60

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators (some log viewers break lines there).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE_AND_TAB = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _controls(multiline: bool) -> re.Pattern[str]:
    return _CONTROL_BUT_NEWLINE_AND_TAB if multiline else _CONTROL


def check_text(field: str, value: str | None, maximum: int, *, required: bool, multiline: bool = False) -> None:
    """Refuses a missing (when `required`), blank, overlong or control-character-bearing value."""
    if value is None:
        if required:
            raise ValidationFailed(FieldError(field, "is required"))
        return
    if required and not value.strip():
        raise ValidationFailed(FieldError(field, "must not be empty"))
    if len(value) > maximum:
        raise ValidationFailed(FieldError(field, f"must be at most {maximum} characters"))
    found = _controls(multiline).search(value)
    if found:
        allowed = "only newlines and tabs" if multiline else "none"
        raise ValidationFailed(
            FieldError(field, f"contains the control character U+{ord(found.group()):04X} ({allowed} allowed)")
        )


def without_control_characters(value: str, *, multiline: bool = False) -> str:
    """`value` with each control character it may not hold replaced by a space (CRLF kept as a newline)."""
    if multiline:
        value = value.replace("\r\n", "\n")
    return _controls(multiline).sub(" ", value)


def normalise_email(email: str, field: str = "email") -> str:
    """The address lower-cased and trimmed; ValidationFailed naming `field` if it is not one."""
    email = email.strip().lower()
    if len(email) > EMAIL_MAX or not _EMAIL.match(email):
        raise ValidationFailed(FieldError(field, "is not a valid email address"))
    return email


def check_password(password: str, field: str = "password") -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValidationFailed(FieldError(field, f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"))


def check_snooze_minutes(minutes: int) -> None:
    if not SNOOZE_MIN_MINUTES <= minutes <= SNOOZE_MAX_MINUTES:
        raise ValidationFailed(
            FieldError("minutes", f"must be between {SNOOZE_MIN_MINUTES} and {SNOOZE_MAX_MINUTES}")
        )
