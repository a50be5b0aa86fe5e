"""Files a user names, bounded before they are read (issue 57, part C): ``agora fit --observed`` and ``agora
forecast --posterior``, and the series and cascades readers under them.

1. **Hostile files** (a FIFO, ``/dev/zero``, a 2 GB sparse file, a 1 MB ``.csv.gz`` expanding to 1 GiB without a
   line break, a 400 KB Parquet of 2 million 1,700-character names) are each one sentence from the real
   command, its peak memory under 200 MB (measured by the process that ran it; an address-space limit of
   1.5 GiB keeps a reader that would take gigabytes from taking the machine), and the pipe and the device are
   refused by the reader within 2 s.
2. **Impossible values** (a negative count, a count above the world's agents, a tick past the cap of
   ``--steps``, the largest 64-bit tick, an agent its own source) are one sentence naming the line; a
   ``--cascades`` file in which nothing spread is fitted.
3. **Posterior files**: not UTF-8, weights of 1e308 each, a NaN in a parameter column (named as that column).
4. **No file content in an error**: a file whose first line holds a marker, given to every reader in every way
   that fails, never shows the marker.

Each runs the code ``import sim`` finds (``PYTHONPATH`` of the test run), so the same tests show what the code
before the fix did.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.errors import AgoraError

#: The code under test: the folder ``sim`` was imported from (the children run it too).
CODE = str(Path(sim.__file__).resolve().parents[1])
#: The most a refusal may cost in memory (peak RSS of the whole command, imports included: about 80 MB).
MAX_RSS = 200 * 2**20
#: The address space each command gets, a guard for the machine: a reader that would take gigabytes fails
#: here rather than take them. Generous beside MAX_RSS (what is asserted): the libraries a command loads
#: (pyarrow, numba, their thread pools' stacks) reserve far more address space than they touch, and at 1.5 GiB
#: a thread could not always be started ("can't start new thread", seen once in the full suite).
ADDRESS_SPACE = 4096 * 2**20
MARKER = "AGORA_WORLD_KEY=sekrit-0f9e"

_WRAP = """
import resource, subprocess, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as fh:
    fh.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


class Ran:
    """What a command did: its exit code, output, and peak memory in bytes."""

    def __init__(self, returncode: int, stdout: str, stderr: str, peak: int) -> None:
        self.returncode, self.stdout, self.stderr, self.peak = returncode, stdout, stderr, peak


def agora(cwd: Path, *args: str, timeout: float = 120) -> Ran:
    """``python -m sim ARGS`` of the code under test, in its own session (killed whole if it outlives
    ``timeout``: a reader held by a pipe for ever fails the test, never the run), with its peak memory."""
    peak_file = cwd / f".peak-{os.getpid()}-{time.monotonic_ns()}"
    env = {k: v for k, v in os.environ.items() if k != "AGORA_PROGRESS"}
    env["PYTHONPATH"] = CODE
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRAP.format(limit=ADDRESS_SPACE), str(peak_file), sys.executable, "-m", "sim", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"agora {' '.join(args)} did not answer within {timeout:.0f} s")
    peak = int(peak_file.read_text()) * 1024 if peak_file.exists() else 0
    peak_file.unlink(missing_ok=True)
    return Ran(proc.returncode, out, err, peak)


def one_sentence(ran: Ran) -> str:
    """The one line of a refused command (exit 2, ``agora: error: ...``, no traceback)."""
    assert ran.returncode == 2, (ran.returncode, ran.stdout, ran.stderr[-3000:])
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agora: error: ") and "Traceback" not in ran.stderr, ran.stderr
    return lines[0]


# -- worlds and files ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A 500-agent world (``w.db``) with an ``ic`` session two ticks into its spread, and a copy (``w0.db``) in
    which nothing runs."""
    here = tmp_path_factory.mktemp("hostile")
    sim.new_world(str(here / "w0.db"), agents=500, avg_degree=8, seed=7)
    sim.new_world(str(here / "w.db"), agents=500, avg_degree=8, seed=7)
    ran = agora(here, "run", "w.db", "--inject", "x", "--model", "ic", "--param", "p=0.1", "--seeds", "random:5",
                "--steps", "2")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return here


@pytest.fixture(scope="module")
def hostile(folder) -> dict[str, str]:
    """The hostile files, made once: name -> path (relative to ``folder``)."""
    os.mkfifo(folder / "fifo.csv")
    os.symlink("/dev/zero", folder / "zero.csv")
    with open(folder / "sparse.csv", "wb") as fh:
        fh.truncate(2 * 2**30)  # 2 GB that cost no disk
    # 1 MB of gzip expanding to 1 GiB without a line break: 1,024 gzip members of 1 MiB of zeros each.
    member = zlib.compressobj(9, zlib.DEFLATED, 31)
    one = member.compress(b"0" * 2**20) + member.flush()
    with open(folder / "bomb.csv.gz", "wb") as fh:
        fh.write(gzip.compress(b"tick,I\n"))
        for _ in range(1024):
            fh.write(one)
    assert (folder / "bomb.csv.gz").stat().st_size < 2**21
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = 2_000_000
    long = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * 1700]))
    numbers = pa.array(np.zeros(rows))
    pq.write_table(
        pa.table({"run": pa.array(np.zeros(rows, dtype=np.int64)), "tick": pa.array(np.arange(rows) % 5),
                  "measure": long, "value": numbers}),
        folder / "names.parquet",
    )  # fmt: skip
    pq.write_table(pa.table({"tick": long, "I": numbers}), folder / "ticks.parquet")
    pq.write_table(pa.table({"p": long, "weight": numbers}), folder / "posterior.parquet")
    for name in ("names.parquet", "ticks.parquet", "posterior.parquet"):
        assert (folder / name).stat().st_size < 2**19
    return {
        "a FIFO": "fifo.csv",
        "/dev/zero": "zero.csv",
        "a 2 GB sparse file": "sparse.csv",
        "a 1 MB gzip of 1 GiB without a line break": "bomb.csv.gz",
        "a Parquet series of 2 M long names": "names.parquet",
        "a Parquet series whose ticks are 2 M long names": "ticks.parquet",
        "a Parquet posterior of 2 M long names": "posterior.parquet",
    }


FIT = ("fit", "w0.db", "--model", "sir", "--param", "beta=0.01..0.5", "--budget", "20", "--population", "10")
FORECAST = ("forecast", "w.db", "--runs", "5", "--ticks", "3")

OBSERVED_CASES = [
    "a FIFO",
    "/dev/zero",
    "a 2 GB sparse file",
    "a 1 MB gzip of 1 GiB without a line break",
    "a Parquet series of 2 M long names",
    "a Parquet series whose ticks are 2 M long names",
]
POSTERIOR_CASES = ["a FIFO", "/dev/zero", "a 2 GB sparse file", "a Parquet posterior of 2 M long names"]


@pytest.mark.subprocess
@pytest.mark.parametrize("case", OBSERVED_CASES)
def test_a_hostile_observation_file_is_one_sentence_in_little_memory(folder, hostile, case):
    name = hostile[case]
    ran = agora(folder, *FIT, "--observed", name, timeout=90)
    line = one_sentence(ran)
    assert name in line and ran.peak < MAX_RSS, (line, ran.peak / 2**20)


@pytest.mark.subprocess
@pytest.mark.parametrize("case", POSTERIOR_CASES)
def test_a_hostile_posterior_file_is_one_sentence_in_little_memory(folder, hostile, case):
    name = hostile[case]
    ran = agora(folder, *FORECAST, "--posterior", name, timeout=90)
    line = one_sentence(ran)
    assert name in line and ran.peak < MAX_RSS, (line, ran.peak / 2**20)


_TIMED = """
import sys, time
from sim.errors import AgoraError
kind, path = sys.argv[1:3]
if kind == "observed":
    from sim.store.observed import read_observed as read
elif kind == "series":
    from sim.store.seriesio import read_series as read
elif kind == "cascades":
    from sim.store.cascadeio import read_cascades as read
else:
    try:
        from sim.runs.fit.output import read_posterior
    except ImportError:  # where it was before it moved beside its writer
        from sim.runs.forecast import read_posterior
    def read(path):
        return read_posterior(path, None, None)
start = time.monotonic()
try:
    read(path)
    print("read")
except AgoraError as exc:
    print("refused:", exc)
print(time.monotonic() - start)
"""


@pytest.mark.parametrize("kind", ["observed", "series", "cascades", "posterior"])
@pytest.mark.parametrize("name", ["fifo.csv", "zero.csv"])
def test_a_pipe_or_a_device_is_refused_within_two_seconds(folder, hostile, kind, name):
    """The reader alone is timed (in a child, killed if it hangs): the command's start-up is not its."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _TIMED, kind, str(folder / name)],
        env={**os.environ, "PYTHONPATH": CODE},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"reading {name} as {kind} did not end within 60 s")
    lines = out.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 2, (out, err[-2000:])
    assert lines[0].startswith("refused:") and "not a regular file" in lines[0], lines[0]
    assert float(lines[1]) < 2.0


# -- impossible values ----------------------------------------------------------------------------------------

IMPOSSIBLE = {
    # case: (file name, text, extra fit arguments, the words of the sentence)
    "a negative count": ("neg.csv", "tick,I\n0,5\n1,-35\n", (), "line 3: I is -35, below 0"),
    "a count above the world's agents": (
        "many.csv", "tick,I\n0,5\n1,1e26\n", (), "line 3: I is 1e+26, more than the world's 500 agents",
    ),
    "a size above the world's agents": (
        "sizes.csv", "size\n3\n100000000000\n", (), "line 3: size is 100,000,000,000, more than the world's 500",
    ),
    "a tick past the cap of --steps (55 bytes)": (
        "far.csv", "tick,I\n0,5\n1,6\n2,7\n3,8\n4,9\n5,10\n6,11\n7,12\n100000000,13\n", (),
        "line 10: tick 100000000 is past tick 999,999",
    ),
    "the largest 64-bit tick": (
        "max.csv", "tick,I\n0,5\n9223372036854775807,6\n", (), "line 3: tick 9223372036854775807 is past tick 999,999",
    ),
    "an agent its own source": (
        "self.csv", "run,agent,source,tick,generation\n0,1,,0,0\n0,2,1,1,1\n0,3,3,1,1\n",
        ("--model", "ic", "--param", "p=0.01..0.5"), "line 4: agent 3 is its own source",
    ),
}  # fmt: skip


@pytest.mark.subprocess
@pytest.mark.parametrize("case", list(IMPOSSIBLE))
def test_an_impossible_observation_is_one_sentence_naming_its_line(folder, case):
    name, text, extra, words = IMPOSSIBLE[case]
    if case.startswith("a tick past"):
        assert len(text) == 55
    (folder / name).write_text(text)
    args = [*FIT, "--observed", name, *extra]
    if extra:  # the model and its parameter instead of sir's
        args = ["fit", "w0.db", "--budget", "20", "--population", "10", "--observed", name, *extra]
    line = one_sentence(agora(folder, *args, timeout=90))
    assert f"observation file {name} {words}" in line, line


def test_a_variable_s_moments_may_be_negative(folder):
    """Only counts of agents are bounded: a variable's mean is any finite number."""
    from sim.lab.agents import load_world
    from sim.store.observed import read_observed

    (folder / "moments.csv").write_text("run,tick,measure,value\n0,0,opinion.mean,-0.5\n0,1,opinion.mean,-0.7\n")
    got = read_observed(str(folder / "moments.csv"), load_world(str(folder / "w0.db")))
    assert got.columns["opinion.mean"].tolist() == [-0.5, -0.7]
    (folder / "counts.csv").write_text("run,tick,measure,value\n0,0,new,3\n0,1,new,-1\n")
    with pytest.raises(AgoraError, match=r"counts\.csv line 3: new is -1, below 0"):
        read_observed(str(folder / "counts.csv"), load_world(str(folder / "w0.db")))


@pytest.mark.subprocess
def test_cascades_in_which_nothing_spread_are_fitted(folder):
    ran = agora(folder, "run", "w0.db", "--inject", "x", "--model", "ic", "--param", "p=0", "--seeds", "random:3",
                "--runs", "3", "--until-done", "--workers", "1", "--cascades", "still.csv")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    rows = (folder / "still.csv").read_text().splitlines()
    assert len(rows) == 10 and all(r.split(",")[2] == "" for r in rows[1:])  # only the seeds, every source empty
    ran = agora(folder, "fit", "w0.db", "--observed", "still.csv", "--model", "ic", "--param", "p=0.001..0.5",
                "--json")  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    fit = json.loads(ran.stdout)
    assert fit["method"] == "exact" and fit["params"]["p"]["median"] < 0.05  # 9 seeds' attempts, all failed


# -- posterior files ------------------------------------------------------------------------------------------


@pytest.mark.subprocess
def test_a_posterior_of_huge_equal_weights_is_used(folder):
    (folder / "huge.csv").write_text("p,weight\n0.1,1e308\n0.2,1e308\n")
    ran = agora(folder, *FORECAST, "--posterior", "huge.csv", "--json")
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr[-3000:]
    assert json.loads(ran.stdout)["posterior"]


POSTERIOR_BAD = {
    "not UTF-8": (b"p,weight\n0.1,0.5\n\xff\xfe,0.5\n", "is not UTF-8 text"),
    "a NaN in p": (b"p,weight\nnan,0.5\n0.2,0.5\n", "line 2: p is nan, not a finite number"),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("case", list(POSTERIOR_BAD))
def test_a_bad_posterior_is_one_sentence_naming_its_column(folder, case):
    data, words = POSTERIOR_BAD[case]
    (folder / "bad-posterior.csv").write_bytes(data)
    line = one_sentence(agora(folder, *FORECAST, "--posterior", "bad-posterior.csv"))
    assert f"posterior file bad-posterior.csv {words}" in line, line


# -- no file content in an error ------------------------------------------------------------------------------

SECRET_OBSERVED = {
    # case: (file name, text); each read as an observation file, refused, the marker in none of the messages
    "an unknown header": ("h.csv", f"{MARKER},x\n1,2\n"),
    "a grid-key column": ("g.csv", f"{MARKER},run,tick,measure,value\n1,0,0,I,1\n"),
    "a bad cell under an unknown column": ("c.csv", f"tick,{MARKER}\n0,1\n1,{MARKER}\n"),
    "a NaN under an unknown column": ("n.csv", f"tick,{MARKER}\n0,nan\n"),
    "a bad tick": ("t.csv", f"tick,I\n{MARKER},1\n"),
    "an unknown measure repeated": ("m.csv", f"run,tick,measure,value\n0,0,{MARKER},1\n0,0,{MARKER},2\n"),
    "an unknown measure missing": ("m2.csv", f"run,tick,measure,value\n0,0,{MARKER},1\n0,0,I,1\n0,1,I,2\n"),
    "a bad cascade cell": ("k.csv", f"run,agent,source,tick,generation\n0,1,,0,0\n0,2,{MARKER},1,1\n"),
    "a bad id": ("i.csv", f"id,tick\n{MARKER},0\n"),
    "a sweep cascades file": ("s.csv", f"{MARKER},run,agent,source,tick,generation\n1,0,1,,0,0\n"),
}


@pytest.mark.parametrize("case", list(SECRET_OBSERVED))
def test_no_observation_error_shows_the_file_s_text(folder, case):
    from sim.lab.agents import load_world
    from sim.store.observed import read_observed

    name, text = SECRET_OBSERVED[case]
    (folder / name).write_text(text)
    with pytest.raises(AgoraError) as exc:
        read_observed(str(folder / name), load_world(str(folder / "w0.db")))
    assert "sekrit" not in str(exc.value) and str(folder / name) in str(exc.value), str(exc.value)


SECRET_TABLES = {
    # case: (reader, text)
    "a series header": ("series", f"{MARKER}\n1\n"),
    "a series cell": ("series", f"run,tick,measure,value\n0,{MARKER},I,1\n"),
    "a long series name": ("series", f"run,tick,measure,value\n0,0,{MARKER * 10},1\n"),
    "a cascades header": ("cascades", f"{MARKER}\n1\n"),
    "a cascades cell": ("cascades", f"run,agent,source,tick,generation\n0,1,{MARKER},0,0\n"),
    "a long cascades key": ("cascades", f"k,run,agent,source,tick,generation\n{MARKER * 10},0,1,,0,0\n"),
}


@pytest.mark.parametrize("case", list(SECRET_TABLES))
def test_no_series_or_cascades_error_shows_the_file_s_text(folder, case):
    from sim.store.cascadeio import read_cascades
    from sim.store.seriesio import read_series

    kind, text = SECRET_TABLES[case]
    path = folder / f"secret-{kind}.csv"
    path.write_text(text)
    with pytest.raises(AgoraError) as exc:
        (read_series if kind == "series" else read_cascades)(str(path))
    assert "sekrit" not in str(exc.value), str(exc.value)


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "text",
    [f"{MARKER},weight\n0.1,1\n", f"p,weight,{MARKER}\n0.1,1,2\n"],
    ids=["an unknown column", "a third unknown column"],
)
def test_no_posterior_error_shows_the_file_s_text(folder, text):
    """Through the command: what a user sees on stderr."""
    (folder / "secret-posterior.csv").write_text(text)
    line = one_sentence(agora(folder, *FORECAST, "--posterior", "secret-posterior.csv"))
    assert "sekrit" not in line and "secret-posterior.csv" in line, line


@pytest.mark.subprocess
def test_a_link_to_a_secret_is_not_shown_by_agora_fit(folder):
    """``--observed`` a link to a file whose first line is a secret (as /proc/self/environ may be)."""
    (folder / "environ").write_text(f"{MARKER}\0HOME=/root\0\n")
    os.symlink(folder / "environ", folder / "environ.csv")
    line = one_sentence(agora(folder, *FIT, "--observed", "environ.csv"))
    assert "sekrit" not in line and "environ.csv" in line, line


@pytest.mark.subprocess
def test_a_column_the_model_does_not_report_is_not_shown_by_agora_fit(folder):
    (folder / "column.csv").write_text(f"tick,{MARKER}\n0,1\n1,2\n")
    line = one_sentence(agora(folder, *FIT, "--observed", "column.csv"))
    assert "sekrit" not in line and "has a column that model 'sir' does not report" in line, line


def test_the_horizon_cap_is_the_steps_cap():
    from sim.runs.fit import fitting, summaries
    from sim.store import observed

    assert observed.MAX_TICK + 1 == fitting.MAX_STEPS and observed.COUNT_MEASURES == summaries.SERIES_MEASURES


def test_the_kernels_refuse_a_run_past_their_bound_in_one_sentence():
    """The last line of the tick bound: a run of 2^63 - 1 ticks asked of the compiled kernels (the array of
    its rounds could not be laid out) is one sentence, not a numpy error."""
    from sim.engine.requests import split_params
    from sim.errors import BadParameterError
    from sim.model.registry import Registry
    from sim.runs.fit.simulate import Simulator
    from sim.store.create import synthetic_world

    world = synthetic_world("bound", 300, avg_degree=6, seed=3)
    priors, fixed = split_params(("beta=0.01..0.5",))
    simulator = Simulator(world, Registry(), model="sir", priors=priors, fixed=fixed, seeds="random:3",
                          steps=2**63 - 1, max_ticks=10_000, kernel="batched")  # fmt: skip
    with pytest.raises(BadParameterError, match=r"more than the 1,000,000 the compiled kernels run"):
        simulator.runs(np.array([0.1]), 0)
