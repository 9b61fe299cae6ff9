"""No traceback on bad input (spec section 12): a bad trace, a bad option value or a missing optional part ends in
one line on stderr and exit 2 (bad input) or 3 (a part missing, with its install command), and nothing runs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from choir.cli import EXTRA_OF_MODULE
from choir.demo import examples_dir
from tests.cli.conftest import Invoke

ROOT = Path(__file__).resolve().parents[2]
VALID = [line for line in (examples_dir() / "02_settlement_outcomes.jsonl").read_text().splitlines()]
TRACE_COMMANDS = [("model", "run", "--json"), ("check", "replay")]
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


def _bad_files(tmp: Path) -> dict[str, tuple[bytes, int | None]]:
    """name -> (file bytes, the line the error must name)."""
    surrogate = json.dumps({"op": "create_thread", "actor": "alice", "thread": "\ud800", "deposit": 10**9, "now": 2})
    return {
        "latin1": ('{"op": "fund", "actor": "caf\xe9"}\n'.encode("latin-1"), 1),
        "binary": (bytes(range(256)) * 4, 1),
        "nested": (b"[" * 100_000 + b"\n", 1),
        "long integer": (b'{"op": "fund", "actor": "a", "amount": ' + b"9" * 5000 + b', "signers": [], "now": 1}\n', 1),
        "lone surrogate": (("\n".join(VALID[:3]) + "\n" + surrogate + "\n").encode(), 4),
        "not an object": (b'["fund"]\n', 1),
        "markup in a value": (VALID[0].replace('"alice"', '"[/red]"').replace('"now"', '"[bold]"').encode(), 1),
    }


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("command", TRACE_COMMANDS, ids=" ".join)
def test_bad_trace_files(command: tuple[str, str], invoke: Invoke, tmp_path: Path) -> None:
    for name, (data, line) in _bad_files(tmp_path).items():
        path = tmp_path / f"{name.replace(' ', '_')}.jsonl"
        path.write_bytes(data)
        result = invoke(*command, str(path))
        assert result.code == 2, (name, result.err)
        assert f"line {line}:" in _one_line(result.err), name
        assert result.out == "", name  # nothing ran, so no step result was printed


def test_unreadable_trace(invoke: Invoke, tmp_path: Path) -> None:
    assert invoke("check", "replay", str(tmp_path)).code == 2  # a directory
    for command in TRACE_COMMANDS:
        result = invoke(*command, str(tmp_path / "missing.jsonl"))
        assert result.code == 2 and "does not exist" in _one_line(result.err)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=8)
    | st.sampled_from(["\ud800", "a\udfff", "[/red]", "0" * 64]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)  # fmt: skip


@st.composite
def malformed_traces(draw: st.DrawFn) -> tuple[list[str], int]:
    """A valid trace with one line damaged: (lines, index of the damaged line)."""
    index = draw(st.integers(0, len(VALID) - 1))
    obj = json.loads(VALID[index])
    kind = draw(st.sampled_from(["drop", "add", "set", "text", "truncate"]))
    if kind == "drop":
        obj.pop(draw(st.sampled_from(sorted(obj))))
        line = json.dumps(obj)
    elif kind == "add":
        obj[draw(st.text(min_size=1, max_size=6))] = draw(JSON_VALUES)
        line = json.dumps(obj)
    elif kind == "set":
        obj[draw(st.sampled_from(sorted(obj)))] = draw(JSON_VALUES)
        line = json.dumps(obj)
    elif kind == "text":
        line = draw(st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t))
    else:
        line = VALID[index][: draw(st.integers(1, len(VALID[index]) - 1))]
    return [*VALID[:index], line, *VALID[index + 1 :]], index


@FUZZ
@given(case=malformed_traces(), command=st.sampled_from(TRACE_COMMANDS))
def test_fuzzed_traces_are_refused_whole_or_run_whole(
    case: tuple[list[str], int], command: tuple[str, str], invoke: Invoke, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lines, index = case
    path = tmp_path_factory.mktemp("fuzz") / "trace.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")
    result = invoke(*command, str(path))
    if result.code == 0:  # the damage left a valid trace (a blank line, another valid value)
        assert len(result.out.splitlines()) == sum(1 for line in lines if line.strip()) + 1
        return
    assert result.code == 2, result.err
    assert f"line {index + 1}:" in _one_line(result.err)
    assert result.out == ""


OPTION_CASES = [
    ("stake", "--coauthors", "1", "--balance"),
    ("stake", "--balance", "1", "--coauthors"),
    ("stake", "--balance", "1", "--coauthors", "1", "--age"),
    ("model", "run", str(examples_dir() / "01_unanimous_dust.jsonl"), "--policy"),
    ("model", "run", str(examples_dir() / "01_unanimous_dust.jsonl"), "--formula"),
    ("check", "--soak", "10", "--target"),
    ("check", "--soak", "10", "--profile"),
    ("check", "--soak", "10", "--seed"),
    ("sim", "run", "baseline", "--days"),
    ("sim", "run", "baseline", "--seed"),
    ("load", "--users"),
    ("serve", "--port"),
]


@FUZZ
@given(case=st.sampled_from(OPTION_CASES), value=st.text(max_size=12).filter(lambda v: not v.startswith("-")))
def test_fuzzed_option_values(case: tuple[str, ...], value: str, invoke: Invoke) -> None:
    """Values no option accepts (numbers' options get text; names get unknown names) are one-line errors, exit 2."""
    if value.strip().lstrip("+").isdigit() or value in ("seeds", "quantum", "linear", "ci", "model"):
        value = f"x{value}"  # keep it invalid for every option in the list
    result = invoke(*case, value)
    assert result.code == 2, result.err
    _one_line(result.err)


@pytest.mark.parametrize("port", ["65536", "-1"])
def test_a_port_out_of_range_is_refused_before_anything_starts(port: str, invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("serve", "--port", port, "--data", str(tmp_path / "data"), "--chain", "none")
    assert result.code == 2, result.err
    assert "--port" in _one_line(result.err)
    assert not (tmp_path / "data").exists()


def test_extras_map_covers_pyproject() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRA_OF_MODULE.values()) == set(extras)


@pytest.mark.parametrize(
    ("blocked", "args", "extra"),
    [
        (("simpy",), ["sim", "run", "baseline", "--days", "1"], "sim"),
        (("fastapi", "uvicorn", "pydantic", "httpx", "qdrant_client"), ["serve", "--chain", "none"], "backend"),
    ],
    ids=["sim", "serve"],
)  # fmt: skip
def test_missing_extra_exits_3_with_the_install_command(
    blocked: tuple[str, ...], args: list[str], extra: str, tmp_path: Path
) -> None:
    """In a fresh interpreter whose import of the extra's modules fails as if it were not installed."""
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from choir.cli import app\n"
        f"app({[*args, '--data' if extra == 'backend' else '--out', str(tmp_path / 'out')]!r})\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 3, run.stderr
    line = _one_line(run.stderr)
    assert f"pip install 'choir-toolkit[{extra}]'" in line


def test_a_data_directory_that_is_a_file_is_bad_input(invoke: Invoke, tmp_path: Path) -> None:
    """`choir serve --data` on a file: exit 2 naming it, and the file left as it was."""
    data = tmp_path / "a-file"
    data.write_text("not a folder")
    result = invoke("serve", "--data", str(data), "--chain", "none", "--port", "1")
    assert result.code == 2, result.err
    assert f"{data}: not a folder" in _one_line(result.err)
    assert data.read_text() == "not a folder"


SHAPE = "authorities must map each treasury authority's name to its base58 public key"


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--authorities", "[1, 2]", SHAPE),
        ("--authorities", '{"treasury1": 5}', SHAPE),
        ("--authorities", '{"treasury1": "not-base58!"}', "authority 'treasury1': not a base58 ed25519 public key"),
        ("--embedder", "nosuch", "unknown embedder 'nosuch'"),
        ("--embedder", "hashing:abc", "embedder 'hashing:abc': the dimension must be a whole number in 1..65536"),
    ],
)
def test_a_bad_service_option_changes_nothing(
    option: str, value: str, named: str, invoke: Invoke, tmp_path: Path
) -> None:
    """`choir serve` with an authorities file or an embedder it cannot use: exit 2 in one line, and no data
    directory made (before: the journal and the index were created, then the service refused to start)."""
    if option == "--authorities":
        (tmp_path / "authorities.json").write_text(value)
        value = str(tmp_path / "authorities.json")
    result = invoke("serve", option, value, "--data", str(tmp_path / "data"), "--chain", "none")
    assert result.code == 2, result.err
    assert named in _one_line(result.err)
    assert not (tmp_path / "data").exists()


def test_an_unreachable_search_server_is_exit_3_and_one_line(invoke: Invoke, tmp_path: Path) -> None:
    """A Qdrant server that does not answer: exit 3 (the toolkit cannot run; the address may be right and the
    server down), its last line naming the address, no traceback."""
    data = str(tmp_path / "data")
    result = invoke("serve", "--qdrant-url", "http://127.0.0.1:1", "--data", data, "--chain", "none", "--port", "0")
    assert result.code == 3, result.err
    assert "Traceback" not in result.err
    assert result.err.splitlines()[-1].startswith("cannot reach the Qdrant server at http://127.0.0.1:1: ")


@pytest.mark.parametrize(
    "command", [("check", "--target", "program"), ("serve", "--chain", "litesvm", "--data", "unused")], ids=" ".join
)
def test_an_idl_that_is_not_one_is_named(command: tuple[str, ...], invoke: Invoke, tmp_path: Path) -> None:
    """A JSON file that is no Anchor IDL: exit 2, the file and what it lacks (not a bare key name)."""
    idl = tmp_path / "idl.json"
    idl.write_text('{"instructions": []}')
    result = invoke(*command, "--idl", str(idl))
    assert result.code == 2, result.err
    assert f"--idl {idl}: not an Anchor IDL: no field 'address'" in _one_line(result.err)


@pytest.mark.parametrize("where", ["/proc/choir-build", "a-file/sub", "a-file"])
def test_a_bad_build_folder_is_bad_input(where: str, invoke: Invoke, tmp_path: Path) -> None:
    """`choir program build --out` into a folder that cannot be made is the user's mistake: exit 2, one line
    naming the path, and nothing built."""
    (tmp_path / "a-file").write_text("not a folder")
    out = where if where.startswith("/") else str(tmp_path / where)
    result = invoke("program", "build", "--out", out)
    assert result.code == 2 and result.err.count("\n") == 1 and f"--out {out}:" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


UNREACHABLE = "tcp://127.0.0.1:1"  # nothing listens on port 1: every connection attempt is refused


@pytest.fixture
def quick_connect() -> Iterator[None]:
    """Dask gives up on an address after half a second instead of 30. `distributed` first: its import adds its
    defaults to Dask's configuration, which leaving `config.set` would take away again had it come in under it."""
    import dask
    import distributed  # noqa: F401

    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        yield


@pytest.mark.parametrize(
    "args",
    [
        ("sim", "sweep", str(ROOT / "sim" / "sweeps" / "heatmap_small.toml"), "--no-progress", "--no-plots"),
        ("sim", "run", "baseline", "--seeds", "2", "--no-plots"),
    ],
    ids=" ".join,
)
@pytest.mark.usefixtures("quick_connect")
def test_an_unreachable_scheduler_is_exit_3_and_one_line(args: tuple[str, ...], invoke: Invoke, tmp_path: Path) -> None:
    """A scheduler that does not answer is the toolkit's failure (exit 3, not an "internal error"): the address to
    check, in one line."""
    result = invoke(*args, "--out", str(tmp_path / "out"), "--scheduler", UNREACHABLE)
    assert result.code == 3, result.err
    assert _one_line(result.err).startswith(f"choir: cannot reach the Dask scheduler at {UNREACHABLE}: ")


@pytest.mark.usefixtures("quick_connect")
def test_a_campaign_with_no_cluster_reports_no_verdict(invoke: Invoke, tmp_path: Path) -> None:
    """`choir check` on a scheduler that does not answer ran nothing: exit 3, and no table of zeros nor invariants
    "held" that a reader could take for a verdict."""
    result = invoke("check", "--soak", "10", "--examples", "0", "--failures", str(tmp_path),
                    "--scheduler", UNREACHABLE)  # fmt: skip
    assert result.code == 3, result.out
    out = " ".join(result.out.split())
    assert f"the toolkit failed before any step ran: cannot reach the Dask scheduler at {UNREACHABLE}" in out
    assert "held" not in out and "invariants" not in out


def test_sigterm_ends_any_command_as_ctrl_c_does(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM in the middle of a command: exit 130 after its cleanup, not death by the signal; and the handler
    that was there before is back afterwards."""
    import os
    import signal

    from choir_model import Economics

    def signalled(*args: object, **kwargs: object) -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        return 1

    monkeypatch.setattr(Economics, "recommended_stake", signalled)
    before = signal.getsignal(signal.SIGTERM)
    assert invoke("stake", "--balance", "100", "--coauthors", "2").code == 130
    assert signal.getsignal(signal.SIGTERM) is before
