"""The errors Planner reports to people: each carries one clear sentence."""


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


class NotFoundError(PlannerError):
    """A job, agent, workflow or run named by the user does not exist."""


class ConfigError(PlannerError):
    """An environment variable holds a value Planner cannot use."""
