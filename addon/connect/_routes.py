"""The routes of the Connect door besides its webhooks: the lifecycle callbacks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from addon.incoming import Incoming, incoming

if TYPE_CHECKING:
    from addon.connect._door import ConnectDoor

__all__ = ["lifecycle_routes"]

NO_CONTENT = 204


def lifecycle_routes(door: ConnectDoor, paths: dict[str, str]) -> list[Route]:
    """POST routes for the lifecycle URLs the descriptor declares."""

    def endpoint(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            body = await incoming(request, door.settings.max_body_bytes)
            callback: Callable[[Incoming], Awaitable[None]] = getattr(door.lifecycle, name)
            await callback(body)
            return Response(status_code=NO_CONTENT)

        handle.__name__ = f"lifecycle_{name}"
        return handle

    return [
        Route(path.split("?", 1)[0], endpoint(name), methods=["POST"], name=f"lifecycle-{name}")
        for name, path in paths.items()
    ]
