"""A backtest plan is data (issue 71): researchers share plans to show a forecast was fixed first, and running
someone's plan must not run their code or send the world away unless the command says so.

- A plan may name Agora's statistics, not code (``summary = "x.py:f"``) nor where the work runs (``ray``,
  ``workers``): those come from the command line, or from the plan with ``--trust-plan`` (``trust_plan=True``),
  which prints on stderr what it will run before it runs. Without it the plan is refused in one sentence, exit 2,
  and nothing of the plan's code has run.
- Every code file a backtest runs is hashed before it runs: the report gives each one's sha256 and one digest of
  the plan with them (``sha256sum plan.toml x.py | cut -c1-64 | sha256sum``).
- A plan nested 5,000 deep, a ``--summary`` that is no Python function of a file, and numbers in digits of
  another script are each one sentence (never a file's bytes), exit 2.

The command line runs in process (:func:`sim.cli.main.main`); every backtest here that runs is two cuts of a fit
of 100 simulations on 300 agents (well under a second).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

import sim
from sim.cli.main import main
from sim.engine.requests import Backtest
from sim.engine.requests.backtest import PlanTrustError
from sim.errors import BadFileError, BadParameterError

CURVE = [1, 2, 2, 3, 5, 6, 8, 9, 12, 14, 15, 15, 14, 12, 11, 9, 8, 7, 6, 5]
CURVE += [4, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0]
#: A plan's forecast settings (data only): two cuts, Agora's forecast alone, a small fit.
SETTINGS = (
    'model = "sir"\nparam = ["beta=0.005..0.1", "gamma=0.05..0.5"]\nseeds = "random:5"\nbudget = 100\n'
    'observed = "curve.csv"\ncut = ["15", "25"]\nhorizon = 4\nmethod = ["agora"]\nfilter-particles = 100\n'
)
#: A summary module that leaves a mark beside itself when it is imported: whether the plan's code ran.
MARKING = """
import pathlib
pathlib.Path(__file__).with_name("RAN").write_text("the plan's code ran")

def peak(series):
    return [series["new"].max()]
"""
SECRET = "AGORA_WORLD_KEY=hunter2-not-a-key"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A folder with a world of 300 agents, a 40-tick curve and the marking summary module."""
    folder = tmp_path_factory.mktemp("plan_trust")
    assert main(["new", str(folder / "w.db"), "--agents", "300", "--seed", "3"]) == 0
    (folder / "curve.csv").write_text("tick,new\n" + "".join(f"{t},{v}\n" for t, v in enumerate(CURVE)))
    (folder / "mark.py").write_text(MARKING)
    return folder


@pytest.fixture
def here(world, monkeypatch):
    """The world's folder as the current one, without the mark of an earlier test."""
    monkeypatch.chdir(world)
    (world / "RAN").unlink(missing_ok=True)
    return world


def _plan(folder, name: str, extra: str = "") -> str:
    path = folder / name
    path.write_text(SETTINGS + extra)
    return str(path)


def _backtest(capsys, *args: str) -> tuple[int, str, str]:
    """``agora backtest w.db ARGS`` in process: its exit code, stdout and stderr."""
    capsys.readouterr()
    try:
        code = main(["backtest", "w.db", *args])
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _refused(capsys, *args: str) -> str:
    """The one sentence of a refused backtest (exit 2, no traceback)."""
    code, _, err = _backtest(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("agora: error: "), err
    return lines[0]


def _sha(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


# -- code and workers from a plan only on trust ------------------------------------------------------------------


def test_a_plan_naming_code_is_refused_and_its_code_never_runs(here, capsys):
    plan = _plan(here, "code.toml", 'summary = ["peak", "mark.py:peak"]\n')
    line = _refused(capsys, "--plan", plan)
    assert line == (
        f"agora: error: plan file {plan} sets summary, code it would run (a summary that is a function of a file or "
        "module), and a plan holds only forecast settings unless trusted: pass the same --summary FILE.py:function "
        "on the command line, or add --trust-plan to take it from the plan"
    )
    assert not (here / "RAN").exists()
    # A module's function is code too (imported from the current folder): refused the same way.
    plan = _plan(here, "module.toml", 'summary = "mark:peak"\n')
    assert "sets summary, code it would run" in _refused(capsys, "--plan", plan)
    assert not (here / "RAN").exists()


def test_a_trusted_plan_says_what_it_runs_first_and_the_report_hashes_it(here, capsys):
    plan = _plan(here, "code.toml", 'summary = ["peak", "mark.py:peak"]\nworkers = 1\n')
    code, out, err = _backtest(capsys, "--plan", plan, "--trust-plan", "--json")
    assert code == 0, err
    assert (here / "RAN").exists()  # the plan's code ran, as the command said it may
    lines = err.splitlines()
    mark = here / "mark.py"
    assert lines[0] == f"agora: backtest: plan {plan} runs summary {mark}:peak: file {mark} (sha256 {_sha(mark)})"
    assert lines[1] == f"agora: backtest: plan {plan} runs the backtest on 1 worker process"
    assert all(x.startswith("agora: backtest: cut ") for x in lines[2:]) and len(lines) == 4
    data = json.loads(out)
    assert data["summary"] == ["peak", f"{mark}:peak"]
    assert data["code"] == [{"summary": f"{mark}:peak", "path": str(mark), "sha256": _sha(mark), "named_by": "plan"}]
    assert data["plan"]["sha256"] == _sha(plan) and data["plan"]["trusted"] is True
    # The digest of the plan with its code is what `sha256sum plan.toml mark.py | cut -c1-64 | sha256sum` prints.
    both = subprocess.run(["sha256sum", plan, str(mark)], capture_output=True, text=True, check=True).stdout
    lines = "".join(line[:64] + "\n" for line in both.splitlines())
    assert data["plan"]["sha256_with_code"] == hashlib.sha256(lines.encode()).hexdigest()
    # The text names them too.
    code, out, _ = _backtest(capsys, "--plan", plan, "--trust-plan")
    assert code == 0
    assert f"plan: {plan} (sha256 {_sha(plan)}), trusted" in out
    assert f"code: summary {mark}:peak, {mark} (sha256 {_sha(mark)}), named by the plan" in out
    assert f"plan with its code: sha256 {data['plan']['sha256_with_code']}" in out


def test_code_from_the_command_line_beside_a_plan_is_run_and_hashed(here, capsys):
    """The command names code itself: beside a plan of data (added to the plan's statistics), or naming the plan's
    own code again (which is then no longer the plan's choice alone). Agora's statistics beside a plan are refused:
    they are forecast settings, the plan's."""
    plan = _plan(here, "data.toml", 'summary = "peak"\n')
    code, out, err = _backtest(capsys, "--plan", plan, "--summary", "mark.py:peak", "--workers", "1", "--json")
    assert code == 0, err
    mark = here / "mark.py"
    data = json.loads(out)
    assert data["summary"] == ["peak", f"{mark}:peak"] and data["plan"]["trusted"] is False
    assert data["code"] == [{"summary": f"{mark}:peak", "path": str(mark), "sha256": _sha(mark), "named_by": "request"}]
    assert not err.startswith("agora: backtest: plan")  # nothing trusted, nothing to say
    plan = _plan(here, "code.toml", 'summary = ["peak", "mark.py:peak"]\n')
    code, out, err = _backtest(capsys, "--plan", plan, "--summary", str(mark) + ":peak", "--workers", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["code"][0]["named_by"] == "plan"
    line = _refused(capsys, "--plan", plan, "--summary", "final")
    assert line.startswith(f"agora: error: --summary 'final' is set beside plan file {plan}, which fixes the forecast")


def test_ray_and_workers_in_a_plan_are_refused_unless_trusted_or_given(here, capsys):
    plan = _plan(here, "ray.toml", 'ray = "127.0.0.1:9"\n')
    line = _refused(capsys, "--plan", plan)
    assert line == (
        f"agora: error: plan file {plan} sets ray, a Ray cluster the world would be sent to, and a plan holds only "
        "forecast settings unless trusted: pass --ray on the command line, or add --trust-plan to take it from the plan"
    )
    # Trusted, the cluster is named before anything is sent (nothing answers at port 9: refused in one sentence).
    code, _, err = _backtest(capsys, "--plan", plan, "--trust-plan")
    lines = err.strip().splitlines()
    assert lines[0] == f"agora: backtest: plan {plan} sends the world to the Ray cluster at 127.0.0.1:9", err
    assert code == 2 and lines[-1].startswith("agora: error: --ray 127.0.0.1:9: no Ray cluster answers there"), err
    plan = _plan(here, "workers.toml", "workers = 2\n")
    assert "sets workers, how many processes run the backtest" in _refused(capsys, "--plan", plan)
    code, out, err = _backtest(capsys, "--plan", plan, "--workers", "1", "--json")  # the command line's own
    assert code == 0 and json.loads(out)["workers"] == 1, err


def test_trust_is_the_commands_alone(here, capsys):
    plan = _plan(here, "self.toml", "trust-plan = true\n")
    assert f"plan file {plan} sets trust_plan, and a plan cannot trust itself" in _refused(capsys, "--plan", plan)
    line = _refused(capsys, "--observed", "curve.csv", "--trust-plan")
    assert line.startswith("agora: error: --trust-plan takes code and workers from a plan file, and none is given")


def test_python_takes_trust_plan_and_prints_what_it_runs(here, capsys):
    plan = _plan(here, "code.toml", 'summary = ["peak", "mark.py:peak"]\nworkers = 1\n')
    w = sim.open_world(here / "w.db")
    with pytest.raises(PlanTrustError) as info:
        w.backtest(plan=plan)
    assert "pass summary=... yourself, or add trust_plan=True to take it from the plan" in str(info.value)
    assert not (here / "RAN").exists()
    capsys.readouterr()
    result = w.backtest(plan=plan, trust_plan=True)
    assert capsys.readouterr().err.startswith(f"agora: backtest: plan {plan} runs summary {here / 'mark.py'}:peak")
    assert result.to_dict()["code"][0]["sha256"] == _sha(here / "mark.py")


def test_every_code_file_is_hashed_when_the_request_is_made():
    """A module's file is found without importing it; a function given from Python is hashed by its source file."""
    request = Backtest.parse({"observed": "x.csv", "summary": ["peak", "json:dumps", _sha]})
    code = request.code
    assert [c.summary for c in code] == ["json:dumps", f"{__name__}:_sha"]
    assert code[0].path == json.__file__ and code[0].sha256 == _sha(json.__file__)
    assert code[1].path == os.path.abspath(__file__) and code[1].sha256 == _sha(__file__)
    assert Backtest.parse({"observed": "x.csv", "summary": "peak,final"}).code == ()


# -- one sentence for what a plan or a --summary cannot be ---------------------------------------------------------


def test_a_plan_nested_too_deep_is_one_sentence(here, capsys):
    deep = here / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    line = _refused(capsys, "--plan", str(deep))
    assert line == (
        f"agora: error: plan file {deep} nests arrays or tables too deeply to read: give NAME = VALUE lines, at most "
        "8 deep"
    )
    deep.write_text('model = "sir"\nparam = ' + "[" * 20 + '"beta=0.01..0.1"' + "]" * 20 + "\n")  # TOML reads it
    assert f"plan file {deep} nests params more than 8 levels deep" in _refused(capsys, "--plan", str(deep))


def test_a_summary_that_is_no_python_function_is_one_sentence_and_never_its_bytes(here, capsys, tmp_path):
    (tmp_path / "folder.py").mkdir()
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "secret.py").write_text(f"def f(s):\n    return [1 +\n{SECRET}\n")
    (tmp_path / "nul.py").write_bytes(f"x = 1\n\0{SECRET}\n".encode())
    (tmp_path / "blob.py").write_bytes(b"\xff\xfe" + SECRET.encode())
    obs = ["--observed", "curve.csv", "--model", "sir", "--param", "beta=0.005..0.1", "--param", "gamma=0.05..0.5"]
    obs += ["--seeds", "random:5", "--budget", "100", "--cut", "15,25", "--horizon", "4", "--method", "agora"]
    for summary, expected in (
        ("/etc/passwd:x", "--summary '/etc/passwd:x' names a file that is not a Python file (FILE.py)"),
        (f"{tmp_path}:f", "names a file that is not a Python file (FILE.py)"),  # a folder
        (f"{tmp_path}/folder.py:f", f"summary file {tmp_path}/folder.py is a folder: give a Python file"),
        (f"{tmp_path}/pipe.py:f", f"summary file {tmp_path}/pipe.py is not a regular file (a pipe, a device"),
        (f"{tmp_path}/none.py:f", f"summary file {tmp_path}/none.py does not exist: check the path"),
        (":", "--summary ':' is neither one of Agora's"),
        ("mark.py:", "--summary 'mark.py:' is neither one of Agora's"),
        ("mark.py:1f", "--summary 'mark.py:1f' names '1f', which is not a Python function's name"),
        ("a b:f", "--summary 'a b:f' names 'a b', which is neither a module's name"),
        ("mark.py:nothing", "--summary 'mark.py:nothing': file 'mark.py' has no 'nothing'"),
        (f"{tmp_path}/secret.py:f", f"file {tmp_path}/secret.py is not Python that compiles at line 2 (SyntaxError)"),
        (f"{tmp_path}/nul.py:f", f"file {tmp_path}/nul.py is not Python that compiles"),
        (f"{tmp_path}/blob.py:f", f"file {tmp_path}/blob.py is not Python that compiles"),
    ):
        line = _refused(capsys, *obs, "--summary", summary)
        assert expected in line and "hunter2" not in line, (summary, line)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"cuts": "٣"}, "cuts must be a whole number from 1 to 1,000 in ASCII digits, not '٣'"),
        ({"horizon": "١٠"}, "horizon must be a whole number from 1 to"),
        ({"draws": "١٠٠"}, "draws must be a whole number from 10 to"),
        ({"workers": "٢"}, "workers must be a whole number from 1 to"),
        ({"serial_interval": "gamma:٣,1"}, "serial_interval 'gamma:٣,1' has digits of another script"),
        ({"ray": "127.0.0.1:٦٣٧٩"}, "ray '127.0.0.1:٦٣٧٩' has digits of another script"),
    ],
)
def test_numbers_of_a_request_are_ascii_digits(fields, expected):
    with pytest.raises(BadParameterError) as info:
        Backtest.parse({"observed": "x.csv", **fields})
    assert expected in str(info.value)


@pytest.mark.parametrize(
    "line",
    ['cut = "٣٠"', 'cut = ["15", "٢٥"]', 'budget = "٣٠٠"', 'horizon = "٤"', 'param = ["beta=٠.01..0.1"]',
     'seeds = "random:٥"', 'tick = "١d"', 'delay = "gamma:٣,1"'],
)  # fmt: skip
def test_numbers_in_a_plan_are_ascii_digits(tmp_path, line):
    plan = tmp_path / "p.toml"
    plan.write_text(f'model = "sir"\nobserved = "x.csv"\n{line}\n[world]\nwhy = "the village of ٣ streets"\n')
    with pytest.raises(BadParameterError) as info:
        Backtest.parse({"plan": str(plan)})
    key = line.split(" ")[0].replace("param", "params")
    assert str(info.value) == (
        f"plan file {plan} writes a number of {key} in digits of another script: write numbers in ASCII digits (0-9)"
    )


def test_numbers_of_the_command_line_are_ascii_digits(here, capsys):
    """The backtest's own number flags (their types are sim.cli.args' integer and positive_float)."""
    flags = (("--cuts", "٣"), ("--horizon", "١٠"), ("--draws", "١٠٠"), ("--workers", "٢"), ("--n-star", "٣"))
    for flag, value in flags:
        code, _, err = _backtest(capsys, "--observed", "curve.csv", flag, value)
        assert code == 2 and f"argument {flag}: '{value}' is not" in err, (flag, err)


def test_a_plan_file_that_cannot_be_read_is_still_one_sentence(tmp_path):
    with pytest.raises(BadFileError, match="does not exist"):
        Backtest.parse({"plan": str(tmp_path / "none.toml")})


def test_a_ray_address_is_checked_before_ray_reads_it():
    """Below the door too (a request built without parse): a port of another script's digits, which Ray's int()
    would read, and a port past 65535, which the socket refused with a traceback, are one sentence each."""
    from sim.runs.transport import _check_reachable

    with pytest.raises(BadParameterError, match="has digits of another script: write its port in ASCII digits"):
        _check_reachable("127.0.0.1:٦٣٧٩")
    with pytest.raises(BadParameterError, match="a port is from 1 to 65535, not 99,999"):
        _check_reachable("127.0.0.1:99999")


def test_an_address_goes_where_it_says_even_when_ray_is_connected(ray_cluster):
    """A process already connected to a Ray cluster (a user's notebook, this session's test cluster) took the
    work there whatever address was asked for: a trusted plan's ``ray = "127.0.0.1:9"`` ran on the connected
    cluster when another test had started one in the same process. Now an address nothing answers at is refused
    as it is without a connection, another cluster's address is refused naming the one connected, and the
    connected cluster's own address (or ``auto``) is used."""
    import socket

    from sim.runs.transport import ray_cluster as reach

    with (
        pytest.raises(BadParameterError, match="127.0.0.1:9: no Ray cluster answers there"),
        reach("127.0.0.1:9", 1, None),
    ):
        pass
    with socket.socket() as other:  # something answers there, and it is not the connected cluster
        other.bind(("127.0.0.1", 0))
        other.listen()
        address = f"127.0.0.1:{other.getsockname()[1]}"
        with (
            pytest.raises(BadParameterError, match="connected to the Ray cluster at .* already"),
            reach(address, 1, None),
        ):
            pass
    current = ray_cluster.get_runtime_context().gcs_address
    for asked in (current, "auto"):
        with reach(asked, 1, None) as (ray, cpus):
            assert ray is ray_cluster and cpus >= 1
    assert ray_cluster.is_initialized()  # attached, not started here: not shut down
