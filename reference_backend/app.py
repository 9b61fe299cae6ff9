"""The HTTP face of the backend (SPEC section 10): FastAPI routes under `/v1`, envelopes, statuses, OpenAPI.

Request flow, as in the seeds (Impl_API): body-size limit -> authentication (signature, freshness, replay) ->
rate limit -> validation -> handler -> `Backend` (the model, the journal) -> envelope. Every response, including
404 for unknown routes, 405, malformed JSON and validation errors (400, not FastAPI's 422, as SPEC section 10
says), is `{data, error, metadata}`. The OpenAPI document lists, for every operation, each status it can answer
with the envelope schema of that answer, so schemathesis can hold the server to it.

Short handlers (thread views, wallet, writes that only wait for the writer thread) run on the event loop: a hop
to the thread pool costs more than they do, and reads answer from the state the writer published
(`reference_backend.readstate`), so none waits for a commit. Search runs on the event loop too with the embedded
engine and BM25 (about a millisecond that holds the GIL wherever it runs), on the thread pool with a Qdrant server,
a model embedder, or while the index catches up after a start.

Routes (all signed except `/v1/health`): register, token/fund, thread/create, message/submit (a message, or a spec
when `stake` is given), message/request-public, spec/approve, message/expire, token/divest, thread/{id}, search,
wallet, and for admins: admin/snapshot, admin/premium, and on test servers (started with a manual clock) admin/clock
and admin/reset.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from reference_backend.cache import ResponseCache
from reference_backend.chorus import backend_loop
from reference_backend.clock import ManualClock
from reference_backend.envelope import BodyLimit, install_error_handlers
from reference_backend.openapi import document
from reference_backend.routers import admin, health, messages, search, threads, tokens, users, ws
from reference_backend.service import Backend
from reference_backend.thread_path import RawThreadPath
from reference_backend.ws import hub_of

ROUTERS = (health.router, users.router, tokens.router, threads.router, messages.router, search.router, ws.router,
           admin.router)  # fmt: skip
"""Every domain's routes, in the order they are matched (each router keeps its own routes' order)."""
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
"""FastAPI's native OpenTelemetry, off (its documented `telemetry=` switch). On by default, it looks up the global
tracer, meter and logger providers on every request (about 6 us) only to find them unconfigured: the backend sends
nothing anywhere, and an operator who wants traces puts a proxy or an instrumented ASGI wrapper in front."""


def create_app(backend: Backend) -> FastAPI:
    """The FastAPI application for a started `Backend` (the caller owns the backend's lifecycle)."""
    app = FastAPI(
        title="Choir reference backend",
        version="1.0.0",
        summary="The reference REST API of Choir over the executable model (SPEC section 10).",
        description=__doc__,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        telemetry=NO_TELEMETRY,
    )
    app.router.redirect_slashes = False  # `/v1/wallet/` is an unknown route (404 envelope), not a bare 307
    app.state.backend = backend
    app.state.cache = ResponseCache(backend)
    app.state.chorus = backend_loop(backend)
    app.state.hub = hub_of(backend)
    test_routes = (admin.test_router,) if isinstance(backend.clock, ManualClock) else ()
    for router in (*ROUTERS, *test_routes):
        # The routes themselves, not `include_router`: this FastAPI keeps an included router as one more layer that
        # matches its routes again on every request (about 10% of a signed request's CPU); the domain routers set
        # no prefix or dependency of their own, so their routes are complete as they are.
        app.router.routes.extend(router.routes)
    install_error_handlers(app, backend)
    app.add_middleware(BodyLimit, backend=backend, limit=backend.config.max_body_bytes)
    app.add_middleware(RawThreadPath)  # a thread id is one raw path segment (`reference_backend.thread_path`)
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
    return app
