"""Thread ids in URL paths: every id the model accepts (spec section 3.2: 1 ..= `thread_id_max` bytes of UTF-8)
reaches its own route, whatever it holds (`x/stake`, `.`, `..`, `%`, `?`, `#`, a newline, spaces, non-ASCII).

Why not Starlette's own path parameters: the router matches the *decoded* path, so the thread `x/stake`
(`/v1/thread/x%2Fstake`) looks exactly like the stake quote of thread `x`, and a `{thread_id:path}` parameter
(`.*`) does not match a newline. Here the thread id is one raw path segment, percent-decoded once by the server:

* `RawThreadPath`, an ASGI middleware, gives the router the path exactly as the client sent it (still
  percent-encoded) for routes under `/v1/thread/`, so `/` inside an id (sent as `%2F`) never splits it;
* the `thread_id` convertor (`{thread_id:thread_id}` in a route) matches one raw segment and decodes it: percent-
  escapes to bytes, bytes as strict UTF-8. A segment that is not UTF-8 names no thread that can exist: 400
  `ValidationError` on the field `thread_id`;
* `thread_segment` is the client's side: every byte but the unreserved letters, digits, `-`, `_` and `~` is
  percent-encoded, `.` included, so no client library or proxy resolves `.` or `..` as a dot segment.

The signature covers the raw path (`reference_backend.auth`), so what is signed is what is routed.
"""

from __future__ import annotations

from urllib.parse import quote, unquote_to_bytes

from starlette.convertors import Convertor, register_url_convertor
from starlette.types import ASGIApp, Receive, Scope, Send

from reference_backend.errors import validation_error

PREFIX = "/v1/thread/"


def thread_segment(thread_id: str) -> str:
    """`thread_id` as one path segment: UTF-8, percent-encoded except `A-Z a-z 0-9 - _ ~`."""
    return quote(thread_id, safe="").replace(".", "%2E")


class ThreadIdConvertor(Convertor[str]):
    """One raw path segment (the router sees it still encoded, `RawThreadPath`), decoded once, strictly."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        try:
            # The raw segment went through latin-1 unchanged (`RawThreadPath`); back to its bytes, then decode.
            return unquote_to_bytes(value.encode("latin-1")).decode("utf-8")
        except UnicodeError:
            raise validation_error(
                "the thread id in the path is not percent-encoded UTF-8", field="thread_id"
            ) from None

    def to_string(self, value: str) -> str:
        return thread_segment(value)


register_url_convertor("thread_id", ThreadIdConvertor())


class RawThreadPath:
    """Route `/v1/thread/...` requests on the path as sent (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            raw = scope.get("raw_path")
            # Without a raw path (an in-process transport that sent none), re-encode the decoded one: ids with `/`
            # are then ambiguous, as they would be to any router, but nothing is decoded twice.
            sent = raw.decode("latin-1") if raw else quote(scope["path"], safe="/")
            scope = dict(scope, path=sent)
        await self.app(scope, receive, send)
