"""Bad input, by fuzzing: schemathesis generates requests from the server's own OpenAPI document,
both valid-shaped (positive) and schema-violating (negative), for every operation; each is signed by a registered
user (an administrator for admin routes) so generation reaches past authentication. No answer may be a 5xx or fall
outside the document (status, content type, headers, body schema). Bounded: a few examples per operation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from choir_model import CHOIR
from reference_backend.auth import dev_keypair, sign_headers
from reference_backend.client import encode_body
from reference_backend.clock import ManualClock
from reference_backend.config import BackendConfig
from reference_backend.server import ServerThread
from tests.backend.conftest import T0, World

EXAMPLES = 12
# Every check of the document runs (no 5xx, status, content type, headers and body schema conformance, negative
# data rejected) except `positive_data_acceptance`, a heuristic that expects schema-valid requests to pass: SPEC
# section 10 answers 400 for requests the model refuses whatever the state (a zero amount, a stake under the
# minimum, a thread id over 32 bytes), and the schema leaves those rules to the model so that the backend reports
# the model's own error names (the differential check compares them).


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    clock = ManualClock(T0)
    config = BackendConfig(data_dir=tmp_path_factory.mktemp("fuzz") / "data", manual_clock=T0, rate_limits={})
    world = World(ServerThread(config, clock=clock).start(), clock)
    world.fund("fuzzer")
    world.client("fuzzer").create_thread("t1", 10 * CHOIR)
    world.client("fuzzer").submit_message("t1", "something to find")
    yield world
    world.close()


def operations(world: World) -> list:
    document = httpx.get(world.url + "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    return [result.ok() for result in schema.get_all_operations()]


def send_signed(world: World, client: httpx.Client, case) -> tuple[httpx.Response, dict[str, str]]:
    kwargs = case.as_transport_kwargs(base_url=world.url)
    if "json" in kwargs:
        content = encode_body(kwargs["json"])
    else:
        data = kwargs.get("data")
        content = data.encode() if isinstance(data, str) else (data or b"")
    headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items() if not k.lower().startswith("x-choir")}
    request = client.build_request(kwargs["method"], kwargs["url"], params=kwargs.get("params"), content=content)
    request.headers.update(headers)
    user = "treasury1" if case.operation.path.startswith("/v1/admin") else "fuzzer"
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        # The case breaks the signing headers on purpose (missing, wrong type): send them as generated.
        request.headers.update({k: str(v) for k, v in (case.headers or {}).items()})
        return client.send(request), {}
    target = request.url.raw_path.decode("ascii")
    signed = sign_headers(request.method, target, content, user, dev_keypair(user), world.clock.now())
    request.headers.update(signed)
    return client.send(request), signed


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzed_requests_get_documented_answers(live: World, mode: GenerationMode) -> None:
    seen: dict[str, set[int]] = {}
    with httpx.Client(timeout=10) as client:
        for operation in operations(live):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case) -> None:
                response, signed = send_signed(live, client, case)
                assert response.status_code < 500, response.text
                # The signature is explicit auth: schemathesis then probes the same request without it and with a
                # wrong value in each signing header, and expects 401 or 403 (its `ignored_auth` check).
                case.validate_response(
                    response,
                    excluded_checks=[positive_data_acceptance],
                    headers=signed or None,
                    transport_kwargs={"base_url": live.url},
                )
                seen.setdefault(case.operation.label, set()).add(response.status_code)

            try:
                check()
            except Unsatisfiable:
                # An operation without parameters or body (health, wallet, ...) has no schema-violating input.
                assert mode is GenerationMode.NEGATIVE and not operation.body and not operation.query
    assert len(seen) >= (14 if mode is GenerationMode.POSITIVE else 8), seen
    statuses = set().union(*seen.values())
    if mode is GenerationMode.NEGATIVE:
        assert 400 in statuses
    else:
        assert 200 in statuses
