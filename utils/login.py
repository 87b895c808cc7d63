"""The login behind `--auth`: the configured user:password pairs, guessing slowed down, every route behind it.

Gradio takes an auth function but gives it no request, so a small ASGI middleware (`ClientAddress`) records the
caller's address in a context variable for the login route. The address is the connection's own, unless the
connection comes from a proxy the app knows is there (the share tunnel it started itself, or a proxy the operator
names in T2VZ_TRUSTED_PROXIES; none by default): then it is the address that proxy appended to X-Forwarded-For
(the rightmost entry that is not itself a trusted proxy), never one the client wrote there.

A client may fail `free_tries` times in `window` seconds; each further failure locks it out for twice as long as the
one before (up to `max_lockout`), and while it is locked out every try fails unchecked, so parallel guesses gain
nothing. Failures are also capped across all clients: past `global_free` failures in the window, tries are answered
one at a time, `global_interval` seconds apart, so a guessing attack spread over many addresses is slowed too (a
right password still gets in, after its turn).

`RequireLogin` keeps every route but the login page behind the login: Gradio leaves some open (its cancel and reset
routes, among others).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar

_client: ContextVar[str] = ContextVar("login_client", default="unknown")

# What a share link's tunnel connects from: Gradio's share client runs on this machine.
LOOPBACK = ("127.0.0.0/8", "::1/128")


def _networks(entries: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _in(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str, forwarded: list[str], trusted) -> str:
    """The client of a connection from `peer` whose X-Forwarded-For headers are `forwarded` (in order), believing
    only what the `trusted` proxies appended."""
    if not _in(peer, trusted):
        return peer
    hops = [hop.strip() for header in forwarded for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):  # each trusted proxy appended the address it saw
        if not _in(hop, trusted):
            return hop
    return peer


class ClientAddress:
    """ASGI middleware: the address of the client of each request, for `LoginThrottle` (see the module)."""

    def __init__(self, app, trusted: Iterable[str] = ()):
        self.app = app
        self.trusted = _networks(trusted)

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            peer = (scope.get("client") or ("unknown",))[0]
            forwarded = [v.decode("latin-1") for k, v in scope.get("headers") or [] if k == b"x-forwarded-for"]
            _client.set(client_address(peer, forwarded, self.trusted))
        await self.app(scope, receive, send)


class LoginThrottle:
    """The login check for Gradio: `launch(auth=LoginThrottle(pairs).check)`. Gradio awaits an auth function only
    when it is a coroutine function (it would take the coroutine object of an async `__call__` as a yes): so the
    check is a method, `check`."""

    def __init__(
        self,
        pairs: list[tuple[str, str]],
        free_tries: int = 5,
        window: float = 900.0,
        first_lockout: float = 2.0,
        max_lockout: float = 300.0,
        global_free: int = 30,
        global_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable] = asyncio.sleep,
    ):
        self.pairs = list(pairs)
        self.free_tries, self.window = free_tries, window
        self.first_lockout, self.max_lockout = first_lockout, max_lockout
        self.global_free, self.global_interval = global_free, global_interval
        self.clock, self.sleep = clock, sleep
        self.failures: dict[str, deque[float]] = defaultdict(deque)
        self.locked_until: dict[str, float] = {}
        self.all_failures: deque[float] = deque()
        self.next_turn = 0.0  # when the next try is answered while failures across clients are over the cap

    def matches(self, username: str, password: str) -> bool:
        """Compare with every pair in constant time (no early exit that would time the right user name)."""
        found = False
        for user, secret in self.pairs:
            found |= hmac.compare_digest(username.encode(), user.encode()) & hmac.compare_digest(
                password.encode(), secret.encode()
            )
        return found

    async def check(self, username: str, password: str) -> bool:
        """True for a right user name and password from a client that is not locked out."""
        client, now = _client.get(), self.clock()
        if now < self.locked_until.get(client, 0.0):
            return False  # locked out: not even checked
        if not await self._wait_turn(now):
            return False
        if self.matches(username, password):
            self.failures.pop(client, None)
            return True
        await self._failed(client, self.clock())
        return False

    async def _wait_turn(self, now: float) -> bool:
        """Past the cap on failures across clients, tries take turns `global_interval` apart; a try whose turn is
        more than `max_lockout` away fails unchecked (the queue of turns stays bounded)."""
        while self.all_failures and self.all_failures[0] < now - self.window:
            self.all_failures.popleft()
        if len(self.all_failures) < self.global_free:
            return True
        turn = max(now, self.next_turn)
        if turn - now > self.max_lockout:
            return False
        self.next_turn = turn + self.global_interval
        if turn > now:
            await self.sleep(turn - now)
        return True

    async def _failed(self, client: str, now: float) -> None:
        self.all_failures.append(now)
        if len(self.failures) > 10_000:  # forget clients whose failures are all outside the window
            for key in [k for k, times in self.failures.items() if times[-1] < now - self.window]:
                del self.failures[key]
                self.locked_until.pop(key, None)
        failures = self.failures[client]
        failures.append(now)
        while failures and failures[0] < now - self.window:
            failures.popleft()
        extra = len(failures) - self.free_tries
        if extra > 0:
            lockout = min(self.max_lockout, self.first_lockout * 2 ** (extra - 1))
            self.locked_until[client] = now + lockout
            await self.sleep(lockout)  # the failing client waits; the server does not (the sleep is async)


# What the login page itself loads before anyone has logged in; every other route needs the login.
OPEN_PATHS = frozenset(
    {
        "/",
        "/login",
        "/login/",
        "/logout",
        "/favicon.ico",
        "/robots.txt",
        "/manifest.json",
        "/theme.css",
        "/gradio_api/theme.css",
        "/gradio_api/login_check",
        "/gradio_api/login_check/",
        "/gradio_api/app_id",
        "/gradio_api/app_id/",
        "/gradio_api/startup-events",
    }
)
OPEN_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")


class RequireLogin:
    """ASGI middleware behind `--auth`: a request to any route but the login page's (`OPEN_PATHS`) without a login
    cookie Gradio issued gets 401. Gradio checks the login on most routes itself, but not on all (its cancel and
    reset routes answer anyone: a stranger could stop a logged-in user's job)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and not self._open(scope) and not self._logged_in(scope):
            from starlette.responses import JSONResponse

            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401})
                return
            await JSONResponse({"detail": "Not authenticated: log in first."}, status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _open(scope) -> bool:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)

    @staticmethod
    def _logged_in(scope) -> bool:
        from starlette.requests import HTTPConnection

        app = scope.get("app")
        tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
        if tokens is None or cookie_id is None:
            return False
        cookies = HTTPConnection(scope).cookies
        token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
        return token is not None and token in tokens
