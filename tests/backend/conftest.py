"""Shared fixtures for backend tests: a real uvicorn server on 127.0.0.1 (a thread of the test process, on a free
port) with a manual clock, and signed clients for named users. Time only moves when a test moves it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from choir_model import CHOIR
from reference_backend.auth import dev_keypair, sign_headers
from reference_backend.client import ChoirClient, encode_body
from reference_backend.clock import ManualClock
from reference_backend.config import BackendConfig
from reference_backend.server import ServerThread
from reference_backend.service import Backend

T0 = 1_700_000_000
AUTHORITIES = (("treasury1", dev_keypair("treasury1")), ("treasury2", dev_keypair("treasury2")))


@dataclass
class World:
    """A running test server and helpers to talk to it."""

    server: ServerThread
    clock: ManualClock
    clients: dict[str, ChoirClient] = field(default_factory=dict)
    sleeps: list[float] = field(default_factory=list)
    closed: bool = False

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def backend(self) -> Backend:
        return self.server.backend

    def client(self, name: str, register: bool = True) -> ChoirClient:
        """A signed client for `name` (registered on first use), timestamps from the manual clock, no real sleeps."""
        if name not in self.clients:
            client = ChoirClient(self.url, name, dev_keypair(name), clock=self.clock.now, sleep=self.sleeps.append)
            if register and not name.startswith("treasury"):
                client.register()
            self.clients[name] = client
        return self.clients[name]

    def fund(self, name: str, amount: int = 1000 * CHOIR) -> None:
        self.client(name).fund(name, amount, AUTHORITIES)

    def signed(
        self,
        name: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        raw: bytes | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """Body bytes and valid signature headers for a request (tests then tamper with either)."""
        content = raw if raw is not None else (encode_body(body) if body is not None else b"")
        ts = self.clock.now() if timestamp is None else timestamp
        headers = sign_headers(method, path, content, name, dev_keypair(name), ts, nonce=nonce)
        if content:
            headers["content-type"] = "application/json"
        return content, headers

    def send(
        self, method: str, path: str, content: bytes = b"", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return httpx.request(method, self.url + path, content=content or None, headers=headers or {}, timeout=10)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for client in self.clients.values():
            client.close()
        self.server.stop()


WorldFactory = Callable[..., World]


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[WorldFactory]:
    """`make_world(**config_fields)`: start a server (rate limits off unless given) and stop it after the test."""
    worlds: list[World] = []

    def make(data_dir: Path | None = None, **fields: Any) -> World:
        fields.setdefault("rate_limits", {})
        clock = ManualClock(fields.pop("start", T0))
        config = BackendConfig(data_dir=data_dir or tmp_path / f"data{len(worlds)}", manual_clock=T0, **fields)
        world = World(ServerThread(config, clock=clock).start(), clock)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()


@pytest.fixture
def world(make_world: WorldFactory) -> World:
    return make_world()
