"""The login check behind `--auth`: the configured user:password pairs, with repeated failures slowed down.

Gradio takes an auth function but gives it no request, so a small ASGI middleware (`ClientAddress`) records the
caller's address in a context variable for the login route. A client may fail `free_tries` times in `window`
seconds; each further failure locks it out for twice as long as the one before (up to `max_lockout`), and while it is
locked out every try fails unchecked, so parallel guesses gain nothing. Other clients are not slowed.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

_client: ContextVar[str] = ContextVar("login_client", default="unknown")


class ClientAddress:
    """ASGI middleware: the address of the client of each HTTP request, for `LoginThrottle`. Behind a proxy on the
    same machine or network (a private address), the first address of X-Forwarded-For is the client."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            peer = (scope.get("client") or ("unknown",))[0]
            forwarded = dict(scope.get("headers") or []).get(b"x-forwarded-for", b"").decode("latin-1")
            if forwarded and _is_private(peer):
                peer = forwarded.split(",")[0].strip() or peer
            _client.set(peer)
        await self.app(scope, receive, send)


def _is_private(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_private
    except ValueError:
        return False


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
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable] = asyncio.sleep,
    ):
        self.pairs = list(pairs)
        self.free_tries, self.window = free_tries, window
        self.first_lockout, self.max_lockout = first_lockout, max_lockout
        self.clock, self.sleep = clock, sleep
        self.failures: dict[str, deque[float]] = defaultdict(deque)
        self.locked_until: dict[str, float] = {}

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
        if self.matches(username, password):
            self.failures.pop(client, None)
            return True
        if len(self.failures) > 10_000:  # forget clients whose failures are all outside the window
            for key in [k for k, times in self.failures.items() if times[-1] < now - self.window]:
                del self.failures[key]
        failures = self.failures[client]
        failures.append(now)
        while failures and failures[0] < now - self.window:
            failures.popleft()
        extra = len(failures) - self.free_tries
        if extra > 0:
            lockout = min(self.max_lockout, self.first_lockout * 2 ** (extra - 1))
            self.locked_until[client] = now + lockout
            await self.sleep(lockout)  # the failing client waits; the server does not (the sleep is async)
        return False
