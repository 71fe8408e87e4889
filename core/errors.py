"""The errors Planner reports to people: each carries one clear sentence."""

from collections.abc import Iterable


class PlannerError(Exception):
    """Base class: the message is shown to the user as it is."""


class ValidationError(PlannerError):
    """Input that Planner refuses; nothing was changed.

    `field` names the form field or CLI option at fault, so a form can show the message
    next to it.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NameInUseError(ValidationError):
    """A name another row already has (an HTTP API answers 409 for it)."""


class NotFoundError(PlannerError):
    """A job, agent, workflow or run named by the user does not exist; `field` is what
    names it (an HTTP API says which part of a body was not found)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConfigError(PlannerError):
    """An environment variable holds a value Planner cannot use."""


def require_one_of(value: str, allowed: Iterable[str], what: str, field: str) -> str:
    """`value` if it is one of `allowed`, else a ValidationError that lists them."""
    choices = list(allowed)
    if value not in choices:
        raise ValidationError(f"Unknown {what} {value!r}; use one of {', '.join(choices)}.", field)
    return value
