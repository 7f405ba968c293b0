"""The bare stack the add-on is compared with: Starlette on uvicorn answering 204, doing nothing.

It neither reads the body nor looks at a header: whatever the add-on does beyond this is the cost
of its work. bench/run.py starts it the way uvicorn is usually run, without an access log:

    python -m uvicorn bare_app:app --app-dir bench --port 8001 --no-access-log
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def no_content(request: Request) -> Response:
    return Response(status_code=204)


app = Starlette(routes=[Route("/{path:path}", no_content, methods=["GET", "POST"])])
