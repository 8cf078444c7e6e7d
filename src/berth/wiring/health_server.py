"""Health endpoints for the processes that serve no HTTP of their own (``berth worker``): a small
threaded HTTP server on its own port answering ``/v2/health/live`` and ``/v2/health/ready`` (the
paths every berth server answers; ``/healthz`` and ``/readyz`` too), for Kubernetes probes.

The standard library's server is enough: two routes, probe traffic only, no request body.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

LIVE: Final = frozenset({"/v2/health/live", "/healthz"})
READY: Final = frozenset({"/v2/health/ready", "/readyz"})


class HealthServer:
    def __init__(self, host: str, port: int, ready: Callable[[], bool]) -> None:
        handler = _handler(ready)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="berth-health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(ready: Callable[[], bool]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in LIVE:
                self._answer(200, b'{"live": true}')
            elif path in READY:
                ok = ready()
                self._answer(200 if ok else 503, b'{"ready": true}' if ok else b'{"ready": false}')
            else:
                self._answer(404, b'{"error": "no such route", "code": "route_not_found"}')

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # probes are not worth a log line
            return

    return Handler
