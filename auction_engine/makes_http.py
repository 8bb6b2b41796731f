"""`GET /api/makes`: the catalogue's makes, each once, named in English and Chinese (issue 13 item 14).

The room's make filter lists these, in its current language, and sends the `make` key back to
`GET /api/lots?make=`, which matches every spelling of it (`bidding/makes.py`). Public, like the
catalogue itself.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .http import engine_of, principal_of


async def list_makes(request: Request) -> JSONResponse:
    principal_of(request)  # a bad token is refused here as everywhere
    return JSONResponse({"makes": await engine_of(request).store.catalogue_makes()})


ROUTES = [Route("/api/makes", list_makes, methods=["GET"])]
