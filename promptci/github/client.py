"""A thin REST client for GitHub: httpx on `GITHUB_API_URL`, retries, pagination, errors that say what to fix.

Retried: 5xx, 429, a 403 that is a rate limit (`retry-after`, or `x-ratelimit-remaining: 0`), timeouts
and refused connections; waits follow `retry-after` / `x-ratelimit-reset` when GitHub gives them, else
grow exponentially, each capped. Anything else is an `APIError` carrying the status and GitHub's own
message, with the token never in it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from .. import __version__
from ..errors import InfraError, redact

RETRIED_STATUS = {500, 502, 503, 504, 429}
MAX_WAIT_S = 60.0

_FIXES = {
    401: "the token was refused; pass a valid token (the action's `token` input, default github.token)",
    403: "the token may not do this; grant the workflow `permissions:` pull-requests, statuses and contents: write "
    "(a pull request from a fork only ever gets a read-only token)",
    404: "not found, or the token cannot see it; check the repository, the pull request number and the token",
    409: "the branch moved on meanwhile; the next run will try again",
    422: "GitHub refused the request as invalid",
}


class APIError(InfraError):
    """GitHub answered with an error, after retries where retrying made sense."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        self.status = status
        self.api_message = message
        fix = _FIXES.get(status, "GitHub had a fault; re-run the job")
        super().__init__(f"GitHub {method} {path}: {status} {message} ({fix})")


class Client:
    """GitHub's REST API at `api_url` with `token`; `headers` adds or replaces request headers.

    `transport` and `sleep` are for tests."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        retries: int = 4,
        backoff_s: float = 1.0,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        default = {
            # application/json as a second choice: GitHub answers with its own type either way, and
            # servers that only speak plain JSON (Prism serving GitHub's description) accept the request.
            "Accept": "application/vnd.github+json, application/json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"promptci/{__version__}",
        }
        if token:
            default["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"), headers={**default, **(headers or {})}, timeout=30.0, transport=transport
        )
        self._retries = retries
        self._backoff_s = backoff_s
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        """Send one request (retrying what is worth retrying) and return the decoded JSON body, or None."""
        response = self._send(method, path, json=json, params=params)
        return response.json() if response.content else None

    def paginate(self, path: str, params: dict | None = None) -> Iterator[Any]:
        """Every element of a list endpoint, following `Link: rel="next"` exactly as GitHub gives it."""
        url: str | None = path
        query: dict | None = {"per_page": 100, **(params or {})}
        while url:
            response = self._send("GET", url, params=query)
            yield from response.json()
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries its own query
            if url and httpx.URL(url).host != self._http.base_url.host:
                # never send the token to another host, whatever a response says
                raise InfraError(
                    f"GitHub GET {path}: the next page is on another host ({httpx.URL(url).host}); "
                    "not following it (fix: check GITHUB_API_URL)"
                )

    def _send(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> httpx.Response:
        shown = path.split("?")[0]
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                response = self._http.request(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                if last:
                    raise InfraError(
                        f"GitHub {method} {shown}: unreachable after {attempt + 1} tries "
                        f"({type(exc).__name__}) (fix: check GITHUB_API_URL and the network)"
                    ) from None
                self._sleep(self._wait(attempt, None))
                continue
            if response.is_success:
                return response
            if not last and _retryable(response):
                self._sleep(self._wait(attempt, response))
                continue
            raise APIError(method, shown, response.status_code, _message(response))
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            if "retry-after" in response.headers:
                return min(MAX_WAIT_S, _number(response.headers["retry-after"]))
            if response.headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in response.headers:
                return min(MAX_WAIT_S, max(0.0, _number(response.headers["x-ratelimit-reset"]) - time.time()))
        return min(MAX_WAIT_S, self._backoff_s * 2**attempt)


def _retryable(response: httpx.Response) -> bool:
    if response.status_code in RETRIED_STATUS:
        return True
    # GitHub's primary and secondary rate limits answer 403 with these headers (or this wording)
    return response.status_code == 403 and (
        "retry-after" in response.headers
        or response.headers.get("x-ratelimit-remaining") == "0"
        or "rate limit" in response.text.lower()
    )


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return redact(" ".join(response.text.split()), limit=200) or response.reason_phrase
    if not isinstance(body, dict):
        return response.reason_phrase
    message = str(body.get("message") or response.reason_phrase)
    details = [str(e.get("message") or e.get("code")) for e in body.get("errors") or [] if isinstance(e, dict)]
    return redact(" ".join((message + (": " + "; ".join(details) if details else "")).split()), limit=300)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 1.0
