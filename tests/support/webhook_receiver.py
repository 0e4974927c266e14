"""A real HTTP server that receives webhooks in a thread, and verifies them with the reference library.

Each request is verified with ``standardwebhooks`` (the Standard Webhooks reference implementation)
against the endpoint's secrets; what it answers can be scripted per request (a status, headers).
Runnable on its own as a process for the fault tests and the benchmark:
``python -m tests.support.webhook_receiver PORT SECRET LOG`` appends one JSON line per request.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified_with: list[str] = field(default_factory=list)

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


# What to answer: (status, extra headers, body).
Answer = tuple[int, dict[str, str], bytes]


class WebhookReceiver:
    def __init__(self, secrets: list[str] | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secrets = list(secrets or [])
        self.received: list[Received] = []
        self.answers: list[Answer] = []
        self.default: Answer = (204, {}, b"")
        self.answer_with: Callable[[Received], Answer] | None = None
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                status, headers, answer = receiver._receive(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hooks", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def _receive(self, request: Received) -> Answer:
        for secret in self.secrets:
            try:
                Webhook(secret).verify(request.body, request.headers)
            except WebhookVerificationError:
                continue
            request.verified_with.append(secret)
        with self._lock:
            self.received.append(request)
            if self.answers:
                return self.answers.pop(0)
        if self.answer_with is not None:
            return self.answer_with(request)
        return self.default

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    """A receiver process: verifies every request and appends it to a log, one JSON line each."""
    port, secret, log_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    receiver = WebhookReceiver([secret], port=port)
    with open(log_path, "a", buffering=1) as log:
        lock = threading.Lock()

        def answer(request: Received) -> Answer:
            line = json.dumps({"id": request.webhook_id, "verified": bool(request.verified_with)})
            with lock:
                log.write(line + "\n")
            return (204, {}, b"")

        receiver.answer_with = answer
        receiver.server.serve_forever()


if __name__ == "__main__":
    main()
