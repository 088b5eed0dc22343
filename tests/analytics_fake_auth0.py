"""A local fake of the Auth0 endpoints `authviz logs pull` uses, on 127.0.0.1, in a thread.

Reproduces the documented shapes: ``POST /oauth/token`` (client-credentials grant, JSON answer or
401 ``access_denied``), ``GET /api/v2/logs?from=&take=`` (bare JSON array ordered by log_id, logs
strictly after ``from``, ``take`` <= 100 else 400, next page in the ``Link`` header, an empty page
whose next link repeats the request), 401 for a bad bearer token, and 429 with
``x-ratelimit-limit/remaining/reset`` (epoch seconds) and optionally ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web


@dataclass
class FakeTenant:
    logs: list[dict] = field(default_factory=list)
    token: str = "good-token"
    client_id: str = "cid"
    client_secret: str = "csecret"
    rate_limit_every: int = 0  # every Nth logs request answers 429 (0 = never)
    retry_after: bool = False  # add Retry-After to 429s (else only x-ratelimit-reset)
    fail_after_pages: int | None = None  # answer 500 once this many pages were served
    requests: list[dict] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    pages_served: int = 0

    def sorted_logs(self) -> list[dict]:
        return sorted(self.logs, key=lambda e: e["log_id"])


def _app(tenant: FakeTenant) -> web.Application:
    counter = {"logs": 0}

    async def oauth_token(request: web.Request) -> web.Response:
        body = await request.json() if request.content_type == "application/json" else dict(await request.post())
        ok = (
            body.get("grant_type") == "client_credentials"
            and hmac.compare_digest(str(body.get("client_id", "")), tenant.client_id)
            and hmac.compare_digest(str(body.get("client_secret", "")), tenant.client_secret)
            and str(body.get("audience", "")).endswith("/api/v2/")
        )
        if not ok:
            return web.json_response({"error": "access_denied", "error_description": "Unauthorized"}, status=401)
        token = f"issued-{len(tenant.issued) + 1}"
        tenant.issued.append(token)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": 86400, "scope": "read:logs"}
        )

    async def logs(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        tenant.requests.append({"query": dict(request.query), "authorization": auth})
        valid = [tenant.token, *tenant.issued]
        if not auth.startswith("Bearer ") or not any(hmac.compare_digest(auth[7:], t) for t in valid):
            return web.json_response(
                {
                    "statusCode": 401,
                    "error": "Unauthorized",
                    "message": "Invalid token",
                    "attributes": {"error": "Invalid token"},
                },
                status=401,
            )
        counter["logs"] += 1
        if tenant.rate_limit_every and counter["logs"] % tenant.rate_limit_every == 0:
            reset = int(time.time()) + 1
            headers = {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
            if tenant.retry_after:
                headers["Retry-After"] = "1"
            return web.json_response(
                {"statusCode": 429, "error": "Too Many Requests", "message": "Global limit has been reached"},
                status=429,
                headers=headers,
            )
        if tenant.fail_after_pages is not None and tenant.pages_served >= tenant.fail_after_pages:
            return web.json_response({"statusCode": 500, "error": "Internal Server Error"}, status=500)
        try:
            take = int(request.query.get("take", "50"))
        except ValueError:
            take = -1
        if not 1 <= take <= 100:
            return web.json_response(
                {
                    "statusCode": 400,
                    "error": "Bad Request",
                    "message": "Query validation error: 'take' must be between 1 and 100",
                },
                status=400,
            )
        after = request.query.get("from")
        entries = [e for e in tenant.sorted_logs() if after is None or e["log_id"] > after][:take]
        tenant.pages_served += 1
        base = f"{request.scheme}://{request.host}{request.path}"
        if entries:
            next_url = f"{base}?{urlencode({'from': entries[-1]['log_id'], 'take': take})}"
        else:
            next_url = str(request.url)
        return web.json_response(entries, headers={"Link": f'<{next_url}>; rel="next"'})

    app = web.Application()
    app.router.add_post("/oauth/token", oauth_token)
    app.router.add_get("/api/v2/logs", logs)
    return app


class FakeAuth0Server:
    """Runs the fake in its own event loop thread; ``url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, tenant: FakeTenant) -> None:
        self.tenant = tenant
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-auth0", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(_app(self.tenant), access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> FakeAuth0Server:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake Auth0 server did not start within 10 s")
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
