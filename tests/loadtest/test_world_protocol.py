"""Agents see one small world protocol, and both worlds implement it with the same logic.

Why: the load's users are the simulator's agents, so whatever an agent may call must mean the same on the
in-process `sim.engine.World` and on `loadtest.remote.RemoteWorld`. These tests check the structure (both worlds
are `AgentWorld`s with the protocol's exact signatures, and agents touch nothing else of a world) and the one part
the remote world adds: each typed step an agent or the bootstrap builds becomes the request that asks for it, and
is recorded with the server's `now`."""

from __future__ import annotations

import ast
import inspect
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from choir_model import CreateThread, Divest, Expire, Fund, ProcessApproval, RequestPublic, SubmitMessage, SubmitSpec
from loadtest.remote import Recorder, RemoteWorld
from reference_backend.schemas import OperationResult
from sim.agents import AGENT_KINDS
from sim.engine import World
from sim.scenario import load_scenario
from sim.world import AgentActions, AgentWorld

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = {name for name in dir(AgentWorld) if not name.startswith("_")} | set(AgentWorld.__annotations__)


@pytest.fixture
def worlds() -> Iterator[tuple[World, RemoteWorld]]:
    plan = World(load_scenario("mixed"), check="off")
    pool = ThreadPoolExecutor(max_workers=1)
    http = httpx.Client(base_url="http://127.0.0.1:9")  # never contacted: no test here sends a request
    remote = RemoteWorld(http.base_url, plan.agents, plan.params, plan.epoch, 3600.0, Recorder(), http, pool, (0.1,))
    yield plan, remote
    remote.close()
    http.close()
    pool.shutdown()


def test_both_worlds_are_agent_worlds_with_the_protocols_signatures(worlds: tuple[World, RemoteWorld]) -> None:
    assert {"now", "env", "params", "submit_spec", "divest_max", "pick_open_thread"} <= MEMBERS
    for world in worlds:
        assert isinstance(world, AgentWorld) and isinstance(world, AgentActions)
        for name in MEMBERS:
            declared = inspect.getattr_static(AgentWorld, name, None)
            if inspect.isfunction(declared):
                implemented = inspect.signature(getattr(type(world), name))
                assert implemented == inspect.signature(declared), (type(world).__name__, name)
            else:
                assert hasattr(world, name), (type(world).__name__, name)


def test_agents_touch_a_world_only_through_the_protocol() -> None:
    """Every `world.X` in the agents' source is a member of `AgentWorld`: an agent cannot come to depend on
    something only one world has."""
    tree = ast.parse((ROOT / "sim" / "agents.py").read_text(encoding="utf-8"))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "world"
    }
    assert used and used <= MEMBERS, sorted(used - MEMBERS)
    assert {kind.__module__ for kind in AGENT_KINDS.values()} == {"sim.agents"}


class RecordingClient:
    """Stands in for `ChoirClient`: remembers each write and acknowledges it at `now` = 1,000 + its number."""

    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        self.calls = calls

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any) -> OperationResult:
            self.calls.append((method, *args))
            return OperationResult(op=method, seq=len(self.calls), now=1_000 + len(self.calls))

        return call


def test_the_remote_world_sends_each_step_as_its_request(worlds: tuple[World, RemoteWorld]) -> None:
    _, remote = worlds
    calls: list[tuple[Any, ...]] = []
    remote.clients = {name: RecordingClient(calls) for name in remote.clients}  # type: ignore[misc]
    author = remote.agents[0]
    name = author.identities[0]
    spec, message = remote.content("a spec"), remote.content("a message")
    steps = [
        Fund(name, 0, 5, ("treasury1", "treasury2")),
        CreateThread(name, 0, "t1", 100),
        SubmitSpec(name, 0, "t1", spec, 7),
        SubmitMessage(name, 0, "t1", message),
        RequestPublic(name, 0, "t1", message),
        ProcessApproval(name, 0, "t1", spec, True),
        Expire(name, 0, "t1", spec),
        Divest(name, 0, "t1", 3),
    ]
    assert [remote.act(step) for step in steps] == [None] * len(steps)
    assert [call[0] for call in calls] == [
        "fund",
        "create_thread",
        "submit_spec",
        "submit_message",
        "request_public",
        "approve",
        "expire",
        "divest",
    ]
    assert calls[2][1:] == ("t1", "a spec", 7) and calls[3][1:] == ("t1", "a message")  # texts, not hashes
    assert [step for _, step in remote.recorder.acked] == [
        replace(step, now=1_000 + i) for i, step in enumerate(steps, 1)
    ]
    assert "t1" in remote.thread_ids and remote.coauthored(name) == ["t1"]  # learned from the acknowledgement
    assert remote.divest_view(name, "t1") is None  # the divestment just acknowledged starts the cooldown


def test_the_shared_logic_stakes_and_records_the_same_on_both_worlds(worlds: tuple[World, RemoteWorld]) -> None:
    """`submit_spec` draws the content, records the ballot and acts the same way in both worlds: the simulator's
    model refuses an unfunded author, and the remote world sends the same spec with a text."""
    plan, remote = worlds
    calls: list[tuple[Any, ...]] = []
    remote.clients = {name: RecordingClient(calls) for name in remote.clients}  # type: ignore[misc]
    agent = next(a for a in plan.agents if a.kind == "honest_author")
    identity = agent.identities[0]
    assert plan.submit_spec(agent, identity, "t00000", 10, 0.75) == "UnknownThread"
    assert remote.submit_spec(agent, identity, "load-00000", 10, 0.75) is None
    ((_, step),) = remote.recorder.acked
    assert isinstance(step, SubmitSpec) and (step.actor, step.thread, step.stake) == (identity, "load-00000", 10)
    assert remote.pick_open_thread(random.Random(1), identity) is None  # no thread known yet: no draw
