"""Cancelling exactly the job a client names.

Gradio's cancel route stops every running task of the client's session and function, whatever event the client
named: one client with a running and a queued generation that cancels the queued one stops the running one instead
(it is never written) while the queued one still runs. `ExactCancel` stops only the task of the named event, then
lets Gradio's route do the rest (drop the event from the queue, tell the client it ended) with its own by-name
cancelling turned into a no-op.
"""

from __future__ import annotations

import asyncio
import json

CANCEL_PATH = "/gradio_api/cancel"
NO_FUNCTION = -1  # a function index no task has: Gradio's by-name cancelling then matches nothing


async def cancel_event(session_hash: str, fn_index: int, event_id: str) -> bool:
    """Cancel the running task of exactly this event (Gradio names tasks `<session>_<fn><gradio-sep><event>`) and
    wait for it to end; whether there was one."""
    name = f"{session_hash}_{fn_index}<gradio-sep>{event_id}"
    tasks = [task for task in asyncio.all_tasks() if task.get_name() == name]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return bool(tasks)


class ExactCancel:
    """ASGI middleware for Gradio's cancel route (see the module)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != CANCEL_PATH:
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            request = json.loads(body)
            session, function, event = request["session_hash"], request["fn_index"], request["event_id"]
            if isinstance(session, str) and isinstance(event, str) and isinstance(function, int):
                await cancel_event(session, function, event)
                body = json.dumps({**request, "fn_index": NO_FUNCTION}).encode()
        except (ValueError, KeyError, TypeError):
            pass  # Gradio's route answers a malformed body itself

        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
