"""The HTTP API under /api/v1: what `planner` does from a terminal, for scripts and other
tools, served by the webhook process.

Every request but the OpenAPI document carries `Authorization: Bearer <token>` (a token
from Settings → API tokens or `planner tokens create`); each token may make
PLANNER_API_REQUESTS_PER_MINUTE requests a minute per process, then gets 429 with
`Retry-After`; a client address may send FAILED_TOKENS_PER_MINUTE tokens that are not
known (revoked, mistyped, guessed) a minute, then gets 429 for them. Bodies are JSON
(webhook.api_models); answers are the JSON of `--json`. Refusals are
`{"error": {"message", "field"}}`: 400 bad input (the field at fault, `config.template`
for one inside another; a query parameter the path does not take; a body with several
faults lists each under `errors`), 401 no or unknown
token, 404 nothing by that name or id (or no such path), 405 a method the path does not
take (with `Allow`), 409 a name in use or a removal of what is still used, 413 a body over
1 MiB, 415 a body that is not JSON, 429 too many requests, 502 Composio refused. A run
saved is the answer also when the queue fails (its `waiting_reason` says it starts within
about 3 minutes; core.running.runs.hand_on).
Lists come a page at a time: `?limit=` (1-200, default 50) and the `next_cursor` of the
page before as `?cursor=`.

A token made for one agent (`planner tokens create NAME --agent AGENT`) reaches that
agent's jobs, triggers and runs alone (core.access.scopes): another agent's are refused
with the very 404 of one that does not exist, and the paths of agents, workflows and
events answer it as paths that are not there (after its rate, as every request).

Paths are matched a segment at a time on the path as sent, each segment then decoded, so a
name holding a "/" (sent as %2F) is one segment, and `GET /runs/1/cancel` is that action's
path (405), never a run named "1/cancel".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import pydantic
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from asgi import messages
from asgi.bodies import TooLarge, read_body
from core.access import rates, scopes, tokens
from core.access.rates import FAILED_TOKENS_PER_MINUTE, RateLimit
from core.composio.client import ComposioError
from core.config import Settings
from core.errors import NameInUseError, NotFoundError, PlannerError, ValidationErrors
from core.running.queue import RunQueue
from core.store import standard_json
from core.store.db import session as open_session
from core.store.models import utcnow
from webhook import api_models as models
from webhook.api_calls import Call, Endpoint, InUse
from webhook.api_routes import ENDPOINTS
from webhook.openapi import document

API = "/api/v1"
MISSING_TOKEN = (
    "Send an API token: Authorization: Bearer <token> (make one on Settings → API tokens, "
    "or with 'planner tokens create NAME')."
)
log = logging.getLogger("planner.api")


class Refused(Exception):
    """A request answered with `status` before it reached core."""

    def __init__(
        self, status: int, message: str, field: str | None = None,
        errors: list[dict[str, str | None]] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.field, self.errors = status, field, errors


class UnknownToken(Refused):
    """401 for a token that is not known: counted against the client's address."""


# The HTTP side: token, rate, body, answer.


def _refusal(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None,
    errors: list[dict[str, str | None]] | None = None,
) -> JSONResponse:  # fmt: skip
    """The refusal's answer; `errors`, each fault of a body that has several."""
    answer: dict[str, Any] = {"message": message, "field": field}
    if errors:
        answer["errors"] = errors
    return JSONResponse({"error": answer}, status, headers)


# What a body's fault of these kinds says, in words (pydantic's own words otherwise).
FAULT_WORDS = {
    "missing": "{field} is required.",
    "extra_forbidden": "{field} is not a field this body takes.",
}


def _fault(error: Any) -> dict[str, str | None]:
    """One fault pydantic found in a body, as a refusal says it."""
    field = _field(error["loc"])
    if field is None:
        return {"message": error["msg"], "field": None}
    words = FAULT_WORDS.get(error["type"], "{field}: {msg}.")
    return {"message": words.format(field=field, msg=error["msg"]), "field": field}


def _refused(error: PlannerError) -> JSONResponse:
    """Core's refusal, by the body's names of its fields; each of several under `errors`."""

    def field_of(one: PlannerError) -> str | None:
        field = getattr(one, "field", None)
        return BODY_FIELDS.get(field or "", field)

    several = error.errors if isinstance(error, ValidationErrors) else []
    errors = [{"message": str(one), "field": field_of(one)} for one in several]
    return _refusal(_status_of(error), str(error), field_of(error), errors=errors)


def _token(request: Request) -> str:
    token = messages.bearer(request.headers)
    if not token:
        raise Refused(401, MISSING_TOKEN)
    return token


TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "literal"})
# What core's refusals call the fields a body gives in `config`.
BODY_FIELDS = {"chat": "config.template", "thread": "config.thread",
               "workflow": "config.workflow", "input": "config.input",
               "misfire": "misfire_policy"}  # fmt: skip


def _refused_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when it gives a key twice (which would silently win); one
    pass, whatever the number of keys."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise Refused(400, f"The body gives {twice!r} twice.", twice)
    return found


async def _read(request: Request) -> bytes:
    """The request's body, refused with 413 past the limit."""
    try:
        return await read_body(request.headers, request.receive)
    except TooLarge:
        raise Refused(413, "The body is larger than 1 MiB.") from None


def _field(location: tuple[Any, ...]) -> str | None:
    """A pydantic error's place as the body names it (without its type tags)."""
    parts = [str(p) for p in location if str(p).split("[")[0].lower() not in TYPE_TAGS]
    return ".".join(parts) or None


async def _body(request: Request, model: type[models.Body] | None) -> Any:
    """The request's JSON body read into `model` (None when it takes none and none came)."""
    raw = await _read(request)
    if model is None and not raw.strip():
        return None
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if raw.strip() and kind != "application/json":
        raise Refused(415, "Send the body as JSON (Content-Type: application/json).")
    if model is None:
        raise Refused(400, "This request takes no body.")
    try:
        text = raw.decode("utf-8") if raw.strip() else "{}"
        data = standard_json.loads(text, object_pairs_hook=_refused_pairs)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise Refused(400, f"The body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise Refused(400, "Send a JSON object.")
    try:
        body = model.model_validate(data)
    except pydantic.ValidationError as error:
        faults = [_fault(one) for one in error.errors()]
        first = faults[0]
        raise Refused(
            400, first["message"], first["field"], faults if len(faults) > 1 else None
        ) from None
    refused = _null_refused(body)
    if refused is not None:
        raise Refused(400, f"{refused} cannot be null; leave it out to keep it.", refused)
    return body


def _null_refused(body: models.Body, within: str = "") -> str | None:
    """The first field given as `null` where null means nothing (config.template, say),
    at any depth; None when there is none."""
    for key in type(body).model_fields:
        if key not in body.model_fields_set:
            continue
        value = getattr(body, key)
        if value is None and key not in body.NULLABLE:
            return within + key
        if isinstance(value, models.Body) and (found := _null_refused(value, f"{key}.")):
            return within + found
    return None


def _status_of(error: PlannerError) -> int:
    if isinstance(error, NameInUseError | InUse):
        return 409
    if isinstance(error, NotFoundError):
        return 404
    return 502 if isinstance(error, ComposioError) else 400


def _too_many(wait: float, what: str) -> JSONResponse:
    retry, message = rates.too_many(wait, what)
    return _refusal(429, message, headers={"Retry-After": retry})


class Api:
    """The API's state in a process: its settings, the queue runs go to, the rate limits
    (per token, by its hash: a new token never inherits a revoked one's; and of unknown
    tokens per client address)."""

    def __init__(self, settings: Settings, queue: RunQueue) -> None:
        self.settings, self.queue = settings, queue
        self.rate = RateLimit(settings.api_requests_per_minute)
        self.failures = RateLimit(FAILED_TOKENS_PER_MINUTE)

    async def answer(self, endpoint: Endpoint, request: Request, ref: str = "") -> Response:
        try:
            try:
                token, scope = await asyncio.to_thread(self._authenticate, _token(request))
            except UnknownToken:
                address = request.client.host if request.client else ""
                wait = self.failures.wait(address, time.monotonic())
                if wait:
                    return _too_many(wait, "an unknown API token from this address")
                raise
            wait = self.rate.wait(token, time.monotonic())
            if wait:
                return _too_many(wait, "this token")
            _reached(endpoint, scope)
            query = _query(request, endpoint)
            body = await _body(request, models.body_for(endpoint.body, scope))
            result = await asyncio.to_thread(self._handle, endpoint, scope, ref, query, body)
        except Refused as refusal:
            headers = {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else None
            return _refusal(refusal.status, str(refusal), refusal.field, headers, refusal.errors)
        except PlannerError as error:
            return _refused(error)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is there to read an answer
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return _refusal(500, "Something went wrong on the server; its log says what.")
        if result is None:  # a 204, or the `empty` answer of an endpoint that has one
            return Response(status_code=204)
        return JSONResponse(result, endpoint.status)

    def _authenticate(self, token: str) -> tuple[str, scopes.Scope]:
        """The token's hash (a key no other token ever has, unlike its row's id) and what
        it reaches; its use noted (core.access.tokens.checked)."""
        try:
            row = tokens.checked(self.settings.database_url, token, utcnow())
        except NotFoundError as error:
            raise UnknownToken(401, str(error)) from None
        return row.token_hash, tokens.scope_of(row)

    def _handle(
        self, endpoint: Endpoint, scope: scopes.Scope, ref: str, query: dict[str, str], body: Any
    ) -> Any:
        with open_session(self.settings.database_url) as session:
            call = Call(session, self.settings, self.queue, utcnow(), ref, query, body, scope)
            return endpoint.handle(call)


def _reached(endpoint: Endpoint, scope: scopes.Scope) -> None:
    """A path a token for one agent does not reach (agents, workflows, events) is no path
    at all to it: the 404 of an unknown path, so that it learns nothing of what is there."""
    if endpoint.one_agent:
        return
    try:
        scope.require_whole(endpoint.path.strip("/").split("/")[0])
    except NotFoundError:
        raise Refused(404, NOT_THERE[404]) from None


def _query(request: Request, endpoint: Endpoint) -> dict[str, str]:
    """The query's parameters, refused when the endpoint does not take one (a misspelt
    `?stauts=` would otherwise list everything)."""
    for name in request.query_params:
        if name not in endpoint.query:
            takes = ", ".join(sorted(endpoint.query)) or "none"
            raise Refused(400, f"Unknown query parameter {name!r}; this path takes {takes}.", name)
    return dict(request.query_params)


SPEC = document(ENDPOINTS, API)
NOT_THERE_ELSEWHERE = {404: "Not Found", 405: "Method Not Allowed"}
NOT_THERE = {404: "There is no such path in the API; see /api/v1/openapi.json.",
             405: "This path does not take that method; see /api/v1/openapi.json."}  # fmt: skip


async def not_there(request: Request, error: Exception) -> Response:
    """404 and 405 under /api/v1 as the API's other refusals are; elsewhere Starlette's."""
    status = getattr(error, "status_code", 404)
    if not request.url.path.startswith(API + "/"):
        return PlainTextResponse(NOT_THERE_ELSEWHERE.get(status, ""), status)
    headers = getattr(error, "headers", None)
    return _refusal(status, NOT_THERE.get(status, "Not found."), headers=headers)


Handler = Callable[[Request, str], Awaitable[Response]]


async def openapi(request: Request, ref: str = "") -> JSONResponse:
    return JSONResponse(SPEC)


def _answering(endpoint: Endpoint) -> Handler:
    async def answer(request: Request, ref: str) -> Response:
        api: Api = request.app.state.api  # made at start-up
        return await api.answer(endpoint, request, ref)

    return answer


def _paths() -> list[tuple[tuple[str, ...], dict[str, Handler]]]:
    """Each path's segments ("{ref}" for a name or an id) and its handlers by method."""
    found: dict[tuple[str, ...], dict[str, Handler]] = {("openapi.json",): {"GET": openapi}}
    for endpoint in ENDPOINTS:
        segments = tuple(endpoint.path.strip("/").split("/"))
        found.setdefault(segments, {})[endpoint.method] = _answering(endpoint)
    return list(found.items())


PATHS = _paths()


def _segments(request: Request) -> list[str]:
    """The path after /api/v1/ as sent, split at its "/"s, each segment then decoded (a
    %2F stays inside its segment); from the decoded path where the server gives no raw one."""
    scope = request.scope
    prefix = scope.get("root_path", "") + API + "/"
    raw = scope.get("raw_path", b"").decode("latin-1").partition("?")[0]
    if raw.startswith(prefix):
        return [unquote(segment) for segment in raw[len(prefix) :].split("/")]
    return request.url.path.removeprefix(API + "/").split("/")


def _allowed(methods: dict[str, Handler]) -> str:
    return ", ".join(sorted({*methods, *(["HEAD"] if "GET" in methods else [])}))


async def dispatch(request: Request) -> Response:
    """The handler of the path's pattern and the request's method; 405 with `Allow` for a
    path the API has without that method, 404 for one it has not."""
    segments = _segments(request)
    for pattern, methods in PATHS:
        if len(pattern) != len(segments):
            continue
        refs = [s for p, s in zip(pattern, segments, strict=True) if p == "{ref}"]
        if any(p not in ("{ref}", s) for p, s in zip(pattern, segments, strict=True)) or "" in refs:
            continue
        method = "GET" if request.method == "HEAD" else request.method
        if method not in methods:
            return _refusal(405, NOT_THERE[405], headers={"Allow": _allowed(methods)})
        return await methods[method](request, refs[0] if refs else "")
    return _refusal(404, NOT_THERE[404])


class _EveryMethod:
    """`dispatch` as an ASGI app (not a function, whose Starlette route would take GET
    alone), so that its route takes every method and `dispatch` says which ones a path has."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await dispatch(Request(scope, receive))
        await response(scope, receive, send)


def routes() -> list[Route]:
    """Everything under /api/v1/, matched by `dispatch` (Starlette's path convertor would
    take `1/cancel` as a name, and could not tell a %2F in a name from a "/")."""
    return [Route(API + "/{rest:path}", _EveryMethod())]
