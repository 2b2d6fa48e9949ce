"""A small, real OpenAI-compatible HTTP server on loopback, for tests that need a model to misbehave.

It speaks the chat-completions wire format litellm's OpenAI client sends and parses; what it answers
is up to the test (`reply(request_json) -> str`). This stands in for a remote optimizer model, which
cannot run here; the task model in those tests is still the real embedded one. It also answers
`/embeddings` (`embed(text) -> vector`, default a fixed vector per text from its hash), standing in for a
remote embedding model. It records every request's path, headers and every credential it carries
(`credentials`), and the most requests it had in flight at once (`most_in_flight`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fault:
    """What `reply` returns to answer with an HTTP error instead (after `delay_s`), as a provider would."""

    status: int
    retry_after: float | None = None
    delay_s: float = 0.0
    time_remaining: float | None = None  # GitHub Models' x-ratelimit-timeremaining header
    message: str | None = None  # the error's message (default "fault STATUS")


CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")


def hashed_vector(text: str) -> list[float]:
    """Eight numbers fixed by the text: equal texts embed equal, different ones (almost surely) differ."""
    return [b / 255 - 0.5 for b in hashlib.sha256(text.encode()).digest()[:8]]


class OpenAIServer:
    def __init__(
        self,
        reply: Callable[[dict[str, Any]], str | Fault] = lambda body: "",
        embed: Callable[[str], list[float] | Fault] = hashed_vector,
    ) -> None:
        self.reply = reply
        self.embed = embed
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []  # each request's path, and its headers (names in lower case)
        self.headers: list[dict[str, str]] = []
        self.most_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib's name
                with server._lock:
                    server._in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server._in_flight)
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server._in_flight -= 1

            def _answer(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests.append(body)
                server.paths.append(self.path)
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path.rstrip("/").endswith("/embeddings"):
                    texts = body.get("input") or []
                    vectors = [server.embed(t) for t in ([texts] if isinstance(texts, str) else texts)]
                    fault = next((v for v in vectors if isinstance(v, Fault)), None)
                    content: Any = fault or {
                        "object": "list",
                        "model": body.get("model", "fake"),
                        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                        "usage": {"prompt_tokens": len(vectors), "total_tokens": len(vectors)},
                    }
                else:
                    content = server.reply(body)
                if isinstance(content, Fault):
                    time.sleep(content.delay_s)
                    error = json.dumps(
                        {"error": {"message": content.message or f"fault {content.status}", "type": "server_error"}}
                    )
                    self.send_response(content.status)
                    if content.retry_after is not None:
                        self.send_header("Retry-After", str(content.retry_after))
                    if content.time_remaining is not None:
                        self.send_header("x-ratelimit-timeremaining", str(content.time_remaining))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error.encode())
                    return
                payload = (
                    json.dumps(content).encode()
                    if isinstance(content, dict)
                    else json.dumps(
                        {
                            "id": f"chatcmpl-{len(server.requests)}",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": body.get("model", "fake"),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                        }
                    ).encode()
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def kill(self) -> None:
        """Stop answering at once, as a crashed server would (new connections are refused)."""
        threading.Thread(target=self._httpd.shutdown, daemon=True).start()
        self._httpd.socket.close()

    @property
    def credentials(self) -> list[str]:
        """Every credential header value received, in order (`Bearer …`, an x-api-key, …)."""
        return [h[name] for h in self.headers for name in CREDENTIAL_HEADERS if name in h]

    def env(self) -> dict[str, str]:
        """Environment that sends `openai/...` models here."""
        return {"OPENAI_API_BASE": self.url, "OPENAI_BASE_URL": self.url, "OPENAI_API_KEY": "sk-test-not-a-secret"}
