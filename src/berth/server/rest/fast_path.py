"""The fast path: inference requests answered straight from ASGI, before any routing or middleware.

``POST /v2/models/{name}[/versions/{ref}]/infer`` is the one route whose cost is paid per
prediction, so it is matched with one regular expression and answered by the same
`RestInference` as the documented route; every other request goes to the FastAPI app
unchanged. Errors are converted here exactly as the app's handlers convert them.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from berth.core.access import ANONYMOUS, Action, Principal
from berth.core.errors import BerthError, ErrorCode
from berth.server.auth.access_cache import unauthenticated
from berth.server.auth.permissions import GUARD_KEY, PRINCIPAL_KEY
from berth.server.metrics.requests import CLIENT_CLOSED, OK, NoRequestMetrics, RequestCounter, outcome
from berth.server.rest.errors import error_body, error_headers, error_status
from berth.server.rest.inference import JSON_TYPE, RestInference
from berth.server.usage_meter import NO_USAGE, UsageCounter

log = logging.getLogger(__name__)

INFER_PATH: Final = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?/infer$")


class FastInference:
    """ASGI middleware: inference requests to `endpoint`, everything else to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        endpoint: RestInference,
        requests: RequestCounter | None = None,
        usage: UsageCounter = NO_USAGE,
    ) -> None:
        self.app = app
        self._endpoint = endpoint
        self._requests = requests or NoRequestMetrics()
        self._usage = usage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = INFER_PATH.match(scope["path"])
            if match is not None:
                await self._infer(match.group(1), match.group(2), scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _infer(self, name: str, ref: str | None, scope: Scope, receive: Receive, send: Send) -> None:
        observation = self._requests.start()
        code = CLIENT_CLOSED  # unless it is answered or fails: the caller went away (or the server stops)
        principal = scope.get(PRINCIPAL_KEY)
        try:
            if principal is not ANONYMOUS:
                if not isinstance(principal, Principal):  # no auth layer in front: refuse (fail closed)
                    raise unauthenticated("missing credentials: send 'Authorization: Bearer <token>'")
                guard = scope[GUARD_KEY]
                if not guard.check_known_model(principal, Action.PREDICT, name):
                    await guard.check_model(principal, Action.PREDICT, name)
            answer = await self._endpoint.answer(name, ref, scope["headers"], receive, observation)
            code = OK
        except ClientDisconnect:
            return
        except BerthError as exc:
            code = exc.code.value
            await _send(send, error_status(exc), error_body(exc), [JSON_TYPE, *error_headers(exc)])
            return
        except Exception as exc:
            code = outcome(exc)
            log.exception("unexpected error on POST %s", scope["path"])
            await _send(
                send, 500, error_body(BerthError(ErrorCode.INTERNAL, "internal server error")), [JSON_TYPE]
            )
            return
        finally:
            self._requests.finish(observation, code)
            if isinstance(principal, Principal):
                self._usage.count(principal, observation, code)
        await _send(send, 200, answer.body, answer.headers)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
