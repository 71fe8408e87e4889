"""The errors Planner reports to people: each carries one clear sentence."""

from collections.abc import Callable, Iterable
from typing import TypeVar

Result = TypeVar("Result")


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


class ValidationErrors(ValidationError):
    """Every refusal of one command, each by its field, so that a form shows them all at
    once; the message is the first one's, for a caller that says a single sentence."""

    def __init__(self, errors: list[ValidationError]) -> None:
        super().__init__(str(errors[0]), errors[0].field)
        self.errors = errors


def each_refusal(error: PlannerError) -> list[PlannerError]:
    """Every refusal `error` holds, to be said one per line (a form shows them by field)."""
    return list(error.errors) if isinstance(error, ValidationErrors) else [error]


class Checks:
    """Gathers what a command's independent checks refuse, so that one try says all that
    is wrong with it rather than the first thing only."""

    def __init__(self) -> None:
        self.errors: list[ValidationError] = []

    def check(self, rule: Callable[[], Result]) -> Result | None:
        """What `rule` returns, or None with its refusal kept."""
        try:
            return rule()
        except ValidationErrors as refused:
            self.errors.extend(refused.errors)
        except ValidationError as refused:
            self.errors.append(refused)
        return None

    def refuse(self, message: str, field: str) -> None:
        self.errors.append(ValidationError(message, field))

    def raise_any(self) -> None:
        """Raise what was refused: the one error as it is (a NameInUseError stays one), or
        several as ValidationErrors."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ValidationErrors(self.errors)


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
