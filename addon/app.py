"""The app factory: settings in, a complete Starlette application out. No global state."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from addon import inspector
from addon.connect import ConnectDoor, RenderedDescriptor, render_for
from addon.doors import AnyDoor
from addon.errors import NotFound
from addon.forge import ForgeDoor
from addon.handlers import Handlers, load_handlers
from addon.redact import install_log_filter
from addon.services import start_services, stop_services, templates_directory
from addon.settings import Settings, load_settings
from addon.settings_warnings import settings_warnings
from addon.sites import SiteDoor
from addon.sources import SourceDoor
from addon.web import _pages, _sync
from addon.web._errors import exception_handlers
from addon.web._lane import WebhookLane, check_collisions
from addon.web._middleware import BasePathMiddleware, SecurityHeadersMiddleware

__all__ = ["create_app", "open_doors"]

DoorFactory = Callable[[Settings, RenderedDescriptor], AnyDoor]

DOORS: tuple[tuple[Callable[[Settings], bool], DoorFactory], ...] = (
    # (whether its settings are present, how to build it); a webhook path is tried in this order
    (lambda settings: True, ConnectDoor),
    (lambda settings: True, lambda settings, rendered: SourceDoor()),
    (lambda settings: settings.forge_app_id is not None, lambda s, rendered: ForgeDoor(s)),
    (lambda settings: settings.oauth_enabled, lambda settings, rendered: SiteDoor(settings)),
)

logger = logging.getLogger("addon")

ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _AddOn(Starlette):
    """Starlette with the security headers outermost: outside its server-error handler too, so
    that every answer the application gives carries them, a 500 included."""

    def __init__(self, *args: Any, https: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.https = https

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack(), https=self.https)


def open_doors(settings: Settings, rendered: RenderedDescriptor) -> tuple[AnyDoor, ...]:
    """The doors whose settings are present, built once (`start` opens them)."""
    return tuple(build(settings, rendered) for enabled, build in DOORS if enabled(settings))


async def _no_route(request: Any) -> Any:
    raise NotFound(f"no route for {request.method} {request.url.path}")


def create_app(settings: Settings | None = None, *, handlers: Handlers | None = None) -> Starlette:
    """Build the add-on. Raises SettingsError or DescriptorProblem before anything starts."""
    settings = settings or load_settings()
    if handlers is None:
        handlers = load_handlers(settings.handlers) if settings.handlers else Handlers()
    rendered = render_for(settings)
    doors = open_doors(settings, rendered)
    install_log_filter()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await start_services(settings, rendered, handlers, doors)
        app.state.services = services
        # What start-up built (modules, descriptor, templates) lives as long as the process: keep
        # it out of the garbage collector's full passes, which otherwise stall every request for
        # some 30 ms each time one runs under load (collect first: garbage is not kept).
        gc.collect()
        gc.freeze()
        for warning in settings_warnings(settings):
            logger.warning("%s", warning)
        if not settings.inspector_enabled:
            logger.info(
                "inspector closed: set INSPECTOR_USERNAME and INSPECTOR_PASSWORD to open /inspector"
            )
        logger.info("descriptor: %s/atlassian-connect.json", settings.base_url)
        try:
            yield
        finally:
            await stop_services(services)

    by_door = [(door, route) for door in doors for route in door.routes()]
    routes = [
        *_pages.routes,
        *_sync.routes,
        Mount("/static", StaticFiles(directory=templates_directory() / "static"), name="static"),
        *(route for _, route in by_door),
        *inspector.routes(settings),
    ]
    check_collisions(doors, routes)
    catch_all = Route("/{path:path}", _no_route, methods=ANY_METHOD, name="not-found")
    app = _AddOn(
        routes=[*routes, catch_all],
        middleware=[
            Middleware(WebhookLane, base_path=settings.base_path, doors=doors),
            Middleware(BasePathMiddleware, base_path=settings.base_path),
        ],
        exception_handlers=exception_handlers,
        lifespan=lifespan,
        https=urlsplit(settings.base_url).scheme == "https",
    )
    app.state.settings = settings
    # A refusal raised by a door's route (a lifecycle callback) carries that door's challenge.
    app.state.challenges = {
        route.endpoint: door.challenge
        for door, route in by_door
        if isinstance(route, Route) and door.challenge
    }
    return app
