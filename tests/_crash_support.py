"""Helpers of the crash suite (`tests/study/test_crash_*.py`): run `python -m optgan_cli` in
subprocesses with fault rules (`OPTGAN_FAULT`, see `optgan.faults`), and compare the trials of
two searches. Import it as `from _crash_support import …` (tests/conftest.py puts this folder
on `sys.path`).
"""

from __future__ import annotations

import atexit
import functools
import math
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import optuna
from click.testing import CliRunner

from optgan import keys
from optgan.study.storage import open_storage
from optgan_cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
DRY = str(ROOT / "studies" / "dry-run.yaml")
QUICK = str(ROOT / "studies" / "quickstart.yaml")
NO_PICTURES = ["pictures.sample_grid=false", "pictures.architecture=false", "pictures.rounds=false"]
#: the small synthetic search most crash tests run (4 rounds of 4 trials)
SMALL = ["sampler.population_size=4", "gen_stage.rounds=3", "disc_stage.rounds=1", *NO_PICTURES]
KILLED = -9
_MARK = "optgan fault: SIGKILL at "
#: trial user attrs compared between runs (lineage and failure reason)
_ATTRS = (keys.GENERATION, keys.SLOT, keys.ROLE, keys.PARENTS, keys.OPERATORS, keys.FAIL_REASON)


def sets(*pairs: str) -> list[str]:
    out = []
    for p in pairs:
        out += ["--set", p]
    return out


def create(name: str, storage: str, config: str, overrides: list[str], run_dir: pathlib.Path) -> None:
    """`optgan study create` in this process (no subprocess needed: nothing is killed here)."""
    r = CliRunner().invoke(main, ["study", "create", name, "--config", config, *sets(*overrides),
                                  "--run-dir", str(run_dir), "--storage", storage], catch_exceptions=False)
    assert r.exit_code == 0, (r.stdout, r.stderr)


def subprocess_env(fault: str | None = None, **extra: str) -> dict[str, str]:
    """The test's environment minus fault rules; one OpenMP thread unless `OPTGAN_CRASH_THREADS`
    says otherwise (two chains share 2 cores, and busy-waiting OpenMP threads on a loaded machine
    make tiny convolutions 30× slower)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTGAN_FAULT")}
    env["OMP_NUM_THREADS"] = os.environ.get("OPTGAN_CRASH_THREADS", "1")
    env.update(extra)
    if fault:
        env["OPTGAN_FAULT"] = fault
    return env


def optgan(*args: str, fault: str | None = None, cwd: pathlib.Path | None = None, timeout: float = 300,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m optgan_cli ARGS` in a subprocess, output captured."""
    return subprocess.run([sys.executable, "-m", "optgan_cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env or subprocess_env(fault))


def start(*args: str, fault: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Like :func:`optgan`, in the background."""
    return subprocess.Popen([sys.executable, "-m", "optgan_cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env or subprocess_env(fault))


@dataclass
class Outcome:
    fault: str | None
    returncode: int
    where: str  #: `POINT#N` where the fault killed it ('' when it was not killed)
    stderr: str
    seconds: float


def run_with_fault(name: str, storage: str, fault: str | None, extra: tuple[str, ...] = (),
                   env: dict[str, str] | None = None, timeout: float = 300) -> Outcome:
    """One `optgan run` under a fault rule: it must be killed by it, or finish cleanly."""
    e = env or subprocess_env(fault)
    if fault:
        e["OPTGAN_FAULT"] = fault
    t0 = time.perf_counter()
    r = optgan("run", name, "--storage", storage, *extra, env=e, timeout=timeout)
    seconds = time.perf_counter() - t0
    marks = [ln for ln in r.stderr.splitlines() if ln.startswith(_MARK)]
    assert r.returncode in (0, KILLED), f"{fault}: exit {r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"
    if r.returncode == KILLED:
        assert marks, r.stderr[-2000:]
    return Outcome(fault, r.returncode, marks[-1][len(_MARK):] if marks else "", r.stderr, seconds)


def snapshot(storage: str, name: str) -> dict[str, list[dict]]:
    """Per stage, every trial: number, state, params, values and lineage attrs."""
    out = {}
    opened = open_storage(storage, create=False)
    for stage in ("gen", "disc"):
        study = optuna.load_study(study_name=f"{name}:{stage}", storage=opened)
        out[stage] = [{"number": t.number, "state": t.state.name, "params": t.params, "values": t.values,
                       **{k: t.user_attrs.get(k) for k in _ATTRS}} for t in study.get_trials(deepcopy=False)]
    opened.engine.dispose()
    return out


def assert_same_trials(got: dict[str, list[dict]], want: dict[str, list[dict]], rel: float = 1e-9) -> None:
    """Identical trials (numbers, states, params, lineage), values equal to `rel`."""
    for stage in want:
        assert len(got[stage]) == len(want[stage]), (stage, len(got[stage]), len(want[stage]))
        for g, w in zip(got[stage], want[stage]):
            gv, wv = g.pop("values"), w.pop("values")
            try:
                assert g == w, (stage, g, w)
            finally:
                g["values"], w["values"] = gv, wv
            assert (gv is None) == (wv is None), (stage, g["number"], gv, wv)
            if gv is not None:
                assert all(math.isclose(a, b, rel_tol=rel, abs_tol=1e-12) for a, b in zip(gv, wv)), (gv, wv)


def assert_generations_full(snap: dict[str, list[dict]], population: int) -> None:
    """Every trial finished, every generation exactly `population` trials with slots 0..P-1."""
    for stage, trials in snap.items():
        assert all(t["state"] in ("COMPLETE", "FAIL") for t in trials), [t["state"] for t in trials]
        gens: dict[int, list[int]] = {}
        for t in trials:
            gens.setdefault(t[keys.GENERATION], []).append(t[keys.SLOT])
        assert all(sorted(s) == list(range(population)) for s in gens.values()), (stage, gens)


def lease_rows(storage: str, name: str) -> list[tuple]:
    """(search, host, pid) rows of the run-lease table for search `name`."""
    import sqlalchemy as sa

    engine = open_storage(storage, create=False).engine
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("optgan_leases"):
                return []
            rows = conn.execute(sa.text("SELECT search, host, pid FROM optgan_leases WHERE search = :s"), {"s": name})
            return [tuple(r) for r in rows]
    finally:
        engine.dispose()


@functools.lru_cache(maxsize=1)
def small_reference() -> dict[str, list[dict]]:
    """The trials of an uninterrupted run of `SMALL` (computed once per test session)."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="optgan-crash-ref-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    url = f"sqlite:///{tmp / 'ref.db'}"
    create("ref", url, DRY, SMALL, tmp / "run")
    r = CliRunner().invoke(main, ["run", "ref", "--storage", url], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    return snapshot(url, "ref")


def assert_identical(got, want, path: str = "") -> None:  # noqa: ANN001
    """Checkpoint states equal bit for bit: tensors (dtype too), containers, leaves (NaN == NaN)."""
    import torch

    if isinstance(want, torch.Tensor):
        assert isinstance(got, torch.Tensor) and got.dtype == want.dtype and torch.equal(got, want), path
    elif isinstance(want, dict):
        assert set(got) == set(want), path
        for k in want:
            assert_identical(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            assert_identical(g, w, f"{path}[{i}]")
    else:
        assert got == want or (got != got and want != want), (path, got, want)  # NaN == NaN here
