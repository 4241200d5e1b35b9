"""Determinism and resume: same seed, same proposals — also across a killed and restarted process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import optuna
import pytest

from optgan import keys
from optgan.sampler import run_synthetic_search
from optgan.search_space.constraints import Caps

CAPS = Caps(params_M=(None, 12.5))

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from optgan.config.sampler import SamplerConfig
    from optgan.sampler import OptganSampler, run_synthetic_search, synthetic_values
    from optgan.search_space.constraints import Caps
    from optgan.search_space.genotype import Genotype
    from optgan.study.storage import open_storage

    url, generations, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sampler = OptganSampler(net="gen", config=SamplerConfig(population_size=4, selection="eagan"),
                            caps=Caps(params_M=(None, 12.5)), seed=7)
    study = optuna.create_study(study_name="resume", storage=open_storage(url), sampler=sampler,
                                directions=["maximize", "minimize", "minimize"], load_if_exists=True)
    fail = lambda t: t.number % 5 == 2
    run_synthetic_search(study, generations, fail=fail)
    if mode == "crash":  # ask part of the next generation, tell one, then die without cleanup
        asked = [study.ask(sampler.distributions) for _ in range(2)] + [study.ask()]  # last: no params
        g = Genotype.from_params("gen", asked[0].params)
        study.tell(asked[0], synthetic_values(g, ["IS", "FID", "params_M"], sampler.widths))
        os._exit(0)
    print(json.dumps([[t.number, t.state.name, t.params, t.user_attrs] for t in study.get_trials()]))
    """
)


def snapshot(study: optuna.Study) -> list:
    return json.loads(json.dumps([[t.number, t.state.name, t.params, t.user_attrs] for t in study.get_trials()]))


def run_script(tmp_path, url: str, generations: int, mode: str = "run") -> list:
    script = tmp_path / "drive.py"
    script.write_text(SCRIPT)
    out = subprocess.run([sys.executable, str(script), url, str(generations), mode],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout) if mode == "run" else []


def test_same_seed_same_params_different_seed_different(new_study) -> None:
    runs = []
    for seed in (3, 3, 4):
        study = new_study(None, population_size=6, caps=CAPS, seed=seed, selection="scgan", scgan_clusters=2)
        run_synthetic_search(study, 4, fail=lambda t: t.number % 7 == 1)
        runs.append(snapshot(study))
    assert runs[0] == runs[1]
    assert [r[2] for r in runs[0]] != [r[2] for r in runs[2]]


@pytest.fixture(scope="module")
def uninterrupted() -> list:
    """3 generations of the script's set-up in one go, in memory."""
    from optgan.config.sampler import SamplerConfig
    from optgan.sampler import OptganSampler

    sampler = OptganSampler(net="gen", config=SamplerConfig(population_size=4, selection="eagan"),
                            caps=CAPS, seed=7)
    study = optuna.create_study(sampler=sampler, directions=["maximize", "minimize", "minimize"])
    run_synthetic_search(study, 3, fail=lambda t: t.number % 5 == 2)
    return snapshot(study)


def test_restart_between_generations_continues_identically(tmp_path, uninterrupted) -> None:
    url = f"sqlite:///{tmp_path / 'between.db'}"
    first = run_script(tmp_path, url, 1)
    assert len(first) == 4
    assert run_script(tmp_path, url, 3) == uninterrupted  # another process, same proposals


def test_restart_after_a_kill_mid_generation_continues_identically(tmp_path, uninterrupted) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    run_script(tmp_path, url, 1, mode="crash")
    left = optuna.load_study(study_name="resume", storage=url)
    states = [t.state.name for t in left.get_trials()]
    assert states[4:] == ["COMPLETE", "RUNNING", "RUNNING"]  # killed with 2 trials in flight
    assert all(t.user_attrs[keys.GENERATION] == 1 for t in left.get_trials()[4:])
    assert run_script(tmp_path, url, 3) == uninterrupted


def test_every_random_stream_is_keyed_by_generation_and_slot(monkeypatch, new_study) -> None:
    """Proposals draw from (seed, net, stream, generation, slot), selection from (…, generation):
    two slots or two generations never share a stream (a stream keyed without one of them would
    repeat the same draws), and the same key always gives the same stream (resume)."""
    from optgan.sampler import seeding
    from optgan.sampler.dry_run import run_synthetic_search

    keys: dict[int, set[tuple[int, ...]]] = {}
    real = seeding._seed_sequence

    def spy(seed, net, stream, *key):  # noqa: ANN001, ANN202
        keys.setdefault(stream, set()).add(tuple(int(k) for k in key))
        return real(seed, net, stream, *key)

    monkeypatch.setattr(seeding, "_seed_sequence", spy)
    run_synthetic_search(new_study(population_size=8), generations=3)
    proposals, selections = keys[seeding.STREAM_PROPOSAL], keys[seeding.STREAM_SELECTION]
    assert all(len(k) == 2 for k in proposals) and {g for g, _ in proposals} == {0, 1, 2}
    assert {s for g, s in proposals if g == 0} == set(range(8))  # every slot of the first generation
    assert all(len({s for g, s in proposals if g == gen}) >= 2 for gen in (1, 2))  # children's slots
    assert {(1,), (2,)} <= selections and all(len(k) == 1 for k in selections)


def test_stage_and_round_seeds_are_distinct_per_stage_purpose_and_round() -> None:
    from optgan.engines.scoring import round_seed
    from optgan.trainer.search_setup import stage_seed

    seeds = {stage_seed(7, stage, purpose) for stage in ("gen", "disc") for purpose in range(5)}
    assert len(seeds) == 10
    rounds = {round_seed(7, stage, r) for stage in ("gen", "disc") for r in range(4)}
    assert len(rounds) == 8
    assert stage_seed(7, "gen", 0) != stage_seed(8, "gen", 0) and round_seed(7, "gen", 0) != round_seed(8, "gen", 0)


def test_a_resumed_round_reuses_its_failed_trials_and_asks_no_extra(new_study) -> None:
    """A round stopped between tells: its FAILed trials count as taken, so the rerun gets the same
    P trials and asks none (else a failed candidate's slot was proposed again: P + 1 trials)."""
    import optuna

    from optgan.runner import population_trials
    from optgan.search_space.distributions import param_distributions

    study = new_study(population_size=4)
    first = [study.ask(param_distributions("gen")) for _ in range(4)]
    study.tell(first[1], state=optuna.trial.TrialState.FAIL)
    again = population_trials(study, 0, 4, "gen")
    assert [t.number for t in again] == [t.number for t in first] and len(study.trials) == 4
