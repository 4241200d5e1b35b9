"""Rules of the study records its suites left open (found by mutation testing, round 20): rounds
in generation order whatever order their trials were made in, a round's mean, the refusal when
nothing completed, a user-override G*, `trial_record`'s values and trial lookup, the run-directory
claim's contents, the inputs check, `extend_search`, and the batched trial writes."""

from __future__ import annotations

import json
import math
import pathlib

import optuna
import pytest
from _round_studies import round_study
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from optgan import keys
from optgan.errors import StorageError
from optgan.search_space import Genotype
from optgan.study.results import (choose_best, fixed_gen_star, pareto_trials, round_summaries, rounds_of,
                                  trial_by_number, trial_record)

optuna.logging.set_verbosity(optuna.logging.WARNING)

ROOT = pathlib.Path(__file__).resolve().parents[2]
G_STAR = [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]]


# ---------------------------------------------------------------- results
def test_rounds_come_in_generation_order_even_when_made_out_of_order() -> None:
    """A trial of round 0 made after round 1's (a repaired ask): rounds are still 0, 1, and the
    default front is round 1's, the last round."""
    ok = TrialState.COMPLETE
    study = round_study([(1, None, ok, [1.0]), (0, None, ok, [5.0])], ["minimize"])
    assert list(rounds_of(study)) == [0, 1]
    assert [t.number for t in pareto_trials(study)] == [0]
    assert [s.round for s in round_summaries(study, ["FID"], ["minimize"])] == [0, 1]


def test_a_rounds_mean_is_the_arithmetic_mean() -> None:
    """`mean` is the mean of the round's COMPLETE values (not the median)."""
    ok = TrialState.COMPLETE
    study = round_study([(0, None, ok, [1.0]), (0, None, ok, [2.0]), (0, None, ok, [9.0])], ["minimize"])
    (summary,) = round_summaries(study, ["FID"], ["minimize"])
    assert summary.mean == {"FID": pytest.approx(4.0)} and summary.best == {"FID": 1.0}


def test_choose_best_says_why_nothing_completed() -> None:
    """A study whose last round all failed names that (and, for stage gen, `--gen-arch`); one
    that never ran says so."""
    fail = TrialState.FAIL
    gen = round_study([(0, None, fail, None)], ["minimize"], name="x:gen")
    with pytest.raises(StorageError, match=r"no trial of study 'x:gen''s last round completed.*--gen-arch FILE"):
        choose_best(gen, ["FID"])
    disc = round_study([(0, None, fail, None)], ["minimize"], name="x:disc")
    with pytest.raises(StorageError, match=r"last round completed") as e:
        choose_best(disc, ["FID"])
    assert "--gen-arch" not in str(e.value)
    with pytest.raises(StorageError, match=r"study 'y:gen' has no completed trial yet"):
        choose_best(round_study([], ["minimize"], name="y:gen"), ["FID"])


def test_a_user_override_g_star_names_no_trial() -> None:
    """G* given with --gen-arch (no `trial N` source) has trial None; `trial 7 of s:gen` has 7."""
    study = optuna.create_study(study_name="s:disc")
    study.set_user_attr(keys.GEN_STAR, Genotype.from_array("gen", G_STAR).to_json_dict())
    star = fixed_gen_star(study)
    assert star is not None and (star.source, star.trial) == ("user override", None)
    study.set_user_attr(keys.GEN_STAR_SOURCE, "trial 7 of s:gen")
    assert fixed_gen_star(study).trial == 7
    study.set_user_attr(keys.GEN_STAR_SOURCE, "picked 7 by hand")
    assert fixed_gen_star(study).trial is None


def _gen_trial(number_values: list[float], generation: int | None = 2) -> optuna.trial.FrozenTrial:
    params = Genotype.from_array("gen", G_STAR).to_params()
    return optuna.trial.create_trial(
        params=params, distributions={k: CategoricalDistribution([v]) for k, v in params.items()},
        values=number_values, user_attrs={} if generation is None else {keys.GENERATION: generation})


def test_a_trial_record_shows_non_finite_values_as_null() -> None:
    """An infinite value (a diverged score) is written as None so the record stays valid JSON;
    the round is 1-based, the generation 0-based."""
    record = trial_record(_gen_trial([math.inf, 2.5]), "gen", ["FID", "params_M"])
    assert record["values"] == {"FID": None, "params_M": 2.5}
    assert (record["round"], record["generation"]) == (3, 2)
    json.dumps(record, allow_nan=False)
    assert trial_record(_gen_trial([1.0], generation=None), "gen", ["FID"])["round"] is None


def test_trial_by_number_finds_exactly_that_trial() -> None:
    """Trial N, not N+1 (and None for a number the study lacks)."""
    ok = TrialState.COMPLETE
    study = round_study([(0, None, ok, [1.0]), (0, None, ok, [2.0])], ["minimize"])
    assert trial_by_number(study, 0).values == [1.0] and trial_by_number(study, 1).values == [2.0]
    assert trial_by_number(study, 5) is None and trial_by_number(study, -1) is None


def test_pareto_trials_of_a_given_round() -> None:
    """`round_` picks that round's front (not the last round's); a round without results has none."""
    ok, fail = TrialState.COMPLETE, TrialState.FAIL
    study = round_study([(0, None, ok, [1.0, 2.0]), (0, None, ok, [3.0, 3.0]), (1, None, ok, [0.5, 0.5]),
                         (2, None, fail, None)], ["minimize", "minimize"])
    assert [t.number for t in pareto_trials(study, 0)] == [0]
    assert [t.number for t in pareto_trials(study)] == [2]
    assert pareto_trials(study, 2) == [] and pareto_trials(study, 7) == []


# ---------------------------------------------------------------- extend
@pytest.fixture
def search(tmp_path):
    from optgan.config.study import load_study_config
    from optgan.study.create import create_search

    config = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), ["gen_stage.rounds=3", "disc_stage.rounds=2"])
    return create_search("s", config, f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "run"))


def test_extend_may_stop_a_stage_right_after_its_begun_rounds_but_not_before(search) -> None:
    """Stage gen has begun rounds 0 and 1 (2 rounds): 2 is accepted, 1 refused naming 2."""
    from optgan.errors import ConfigError
    from optgan.study.extend import extend_search

    storage = search.storage
    study_id = storage.get_study_id_from_name("s:gen")
    for generation in (0, 1):
        storage.set_trial_user_attr(storage.create_new_trial(study_id), keys.GENERATION, generation)
    with pytest.raises(ConfigError, match=r"has begun 2 rounds; it cannot stop after 1 \(give at least 2\)"):
        extend_search(search, {"gen": 1})
    assert search.config.gen_stage.rounds == 3
    assert extend_search(search, {"gen": 2}) == {"gen": (3, 2)}
    assert search.config.gen_stage.rounds == 2


# ---------------------------------------------------------------- run-directory claim
def test_a_claim_records_the_search_its_database_and_folder(tmp_path, monkeypatch) -> None:
    """`search.json` holds the given id (returned), the redacted storage, the resolved SQLite
    file, the folder, this host and the creator's token when given."""
    import socket

    from optgan.study.run_dir_claim import RUN_DIR_OWNER, claim_run_dir

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    assert claim_run_dir(tmp_path / "a", "s", "sqlite:///rel.db", "id-1", creator="tok") == "id-1"
    record = json.loads((tmp_path / "a" / RUN_DIR_OWNER).read_text())
    assert record == {"search": "s", "id": "id-1", "storage": "sqlite:///rel.db",
                      "database": str(tmp_path.resolve() / "rel.db"), "path": str(tmp_path / "a"),
                      "host": socket.gethostname(), "creator": "tok"}
    (tmp_path / "b").mkdir()
    new_id = claim_run_dir(tmp_path / "b", "s", "postgresql://u:s3cret@db.example/x")
    record = json.loads((tmp_path / "b" / RUN_DIR_OWNER).read_text())
    assert record["id"] == new_id and len(new_id) == 32 and "creator" not in record
    assert "s3cret" not in record["storage"] and record["database"] is None


def test_a_claim_cut_short_mid_write_leaves_no_file(tmp_path, monkeypatch) -> None:
    """A stop while `search.json` is written removes it: no empty or cut claim stays."""
    from optgan.study import run_dir_claim

    def stop(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(run_dir_claim.json, "dump", stop)
    with pytest.raises(KeyboardInterrupt):
        run_dir_claim.claim_run_dir(tmp_path, "s", "sqlite:///db.sqlite")
    assert not (tmp_path / run_dir_claim.RUN_DIR_OWNER).exists()


def test_a_new_run_dir_must_be_empty_and_is_made_only_with_create(tmp_path) -> None:
    """A folder holding files is refused with the hint about another search; `create` makes the
    folder, without it nothing is made; `must_be_empty=False` accepts a used one."""
    from optgan.study.run_dir_claim import check_new_run_dir

    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("x")
    with pytest.raises(StorageError, match=r"holds files \(of another search, or a deleted one\?\); remove it or pass"):
        check_new_run_dir(used, create=True)
    check_new_run_dir(used, create=True, must_be_empty=False)
    check_new_run_dir(tmp_path / "later", create=False)
    assert not (tmp_path / "later").exists()
    check_new_run_dir(tmp_path / "now", create=True)
    assert (tmp_path / "now").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match=r"is a file; pass --run-dir with another folder"):
        check_new_run_dir(tmp_path / "file", create=True)


# ---------------------------------------------------------------- batched trial writes
@pytest.fixture
def backend(tmp_path):
    from optuna.storages import RDBStorage

    storage = RDBStorage(f"sqlite:///{tmp_path / 'b.db'}")
    yield storage
    storage.engine.dispose()


def _running_trial(backend) -> int:  # noqa: ANN001
    from optuna.study import StudyDirection

    return backend.create_new_trial(backend.create_new_study([StudyDirection.MINIMIZE], "b"))


def test_a_batch_writes_each_table_and_a_repeat_overwrites(backend) -> None:
    """Params, user attrs and system attrs land in their own tables, every row of each; writing
    a key again replaces its value and its distribution."""
    from optuna.distributions import FloatDistribution, distribution_to_json

    from optgan.study.trial_batch_write import TrialWrites, write_trial_batch

    tid = _running_trial(backend)
    wide, narrow = FloatDistribution(0.0, 10.0), FloatDistribution(0.0, 5.0)
    write_trial_batch(backend, tid, TrialWrites(
        params={"x": (1.0, distribution_to_json(wide)), "y": (2.0, distribution_to_json(wide))},
        user_attrs={"u1": json.dumps(1), "u2": json.dumps("a")},
        system_attrs={"s1": json.dumps([1]), "s2": json.dumps(None)}))
    write_trial_batch(backend, tid, TrialWrites(params={"x": (3.0, distribution_to_json(narrow))},
                                                user_attrs={"u1": json.dumps(2)}, system_attrs={}))
    t = backend.get_trial(tid)
    assert t.params == {"x": 3.0, "y": 2.0} and t.distributions["x"] == narrow
    assert t.user_attrs == {"u1": 2, "u2": "a"} and t.system_attrs == {"s1": [1], "s2": None}


def test_a_batch_to_a_finished_trial_is_refused_and_takes_the_row_lock(backend, monkeypatch) -> None:
    """A trial finished meanwhile gets nothing written (Optuna's refusal); the trial's row is read
    FOR UPDATE (the lock PostgreSQL needs: SQLite ignores it)."""
    from optuna.storages._rdb import models

    from optgan.study.trial_batch_write import TrialWrites, write_trial_batch

    locks: list[bool] = []
    real = models.TrialModel.find_or_raise_by_id

    def spy(trial_id, session, for_update=False):  # noqa: ANN001, ANN202
        locks.append(for_update)
        return real(trial_id, session, for_update=for_update)

    monkeypatch.setattr(models.TrialModel, "find_or_raise_by_id", staticmethod(spy))
    tid = _running_trial(backend)
    write_trial_batch(backend, tid, TrialWrites(user_attrs={"a": json.dumps(1)}))
    assert locks == [True]
    backend.set_trial_state_values(tid, TrialState.COMPLETE, [1.0])
    with pytest.raises(RuntimeError, match="finished"):
        write_trial_batch(backend, tid, TrialWrites(user_attrs={"a": json.dumps(2)}))
    assert backend.get_trial(tid).user_attrs == {"a": 1}
