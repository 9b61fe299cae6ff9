"""`choir serve --program PATH.so --idl PATH.json`: the backend in front of a user's own build, driven by its own
IDL, as `choir check` and `choir check replay` take them; a bad IDL, or one without a chain, is exit 2 before the
backend opens anything."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from choir_model import CHOIR
from programs.client.coder import DEFAULT_IDL
from programs.toolchain.build import BuildResult
from reference_backend.auth import dev_keypair
from reference_backend.client import ChoirClient
from reference_backend.server import ServerProcess

AUTHORITIES = [(name, dev_keypair(name)) for name in ("treasury1", "treasury2")]


def test_serve_runs_a_prebuilt_program_by_its_own_idl(choir_build: BuildResult, tmp_path: Path) -> None:
    program = shutil.copy(choir_build.path, tmp_path / "mine.so")
    idl = shutil.copy(DEFAULT_IDL, tmp_path / "mine.json")
    with ServerProcess(tmp_path / "data", ["--program", str(program), "--idl", str(idl), "--no-rate-limits"]) as server:
        with ChoirClient(server.url, "alice", dev_keypair("alice")) as alice:
            alice.register()
            alice.fund("alice", 10 * CHOIR, AUTHORITIES)
            alice.create_thread("t1", 2 * CHOIR)
        with ChoirClient(server.url, "treasury1", dev_keypair("treasury1")) as admin:
            report = admin.call("GET", "/v1/consistency")
    assert report["consistent"] and report["chain_steps"] >= 2, report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--idl", "{missing}"], "--idl {missing}"),
        (["--idl", "{broken}"], "--idl {broken}"),
        (["--chain", "none", "--idl", "{idl}"], "--idl goes with --chain litesvm or --chain rpc"),
    ],
)
def test_a_bad_idl_is_exit_2_before_anything_opens(tmp_path: Path, args: list[str], message: str) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"address": "not base58", "instructions": []}')
    paths = {"missing": tmp_path / "nowhere.json", "broken": broken, "idl": DEFAULT_IDL}
    args = [arg.format(**paths) for arg in args]
    command = [sys.executable, "-m", "choir.cli", "serve", "--data", str(tmp_path / "data"), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert message.format(**paths) in " ".join(done.stderr.split())
    assert not (tmp_path / "data").exists()
