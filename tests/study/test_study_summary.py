"""`optgan status` figures (`optgan.study.summary.stage_status`) and the `--storage` flag the
printed commands carry (`storage_flag`)."""

from __future__ import annotations

import pathlib

import pytest
from optuna.trial import TrialState

from optgan import keys
from optgan.config.study import load_study_config
from optgan.study.create import create_search
from optgan.study.summary import stage_status, storage_flag

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_status_counts_told_trials_and_paces_by_the_last_rounds(tmp_path) -> None:
    config = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), ["sampler.population_size=2", "gen_stage.rounds=6"])
    search = create_search("s", config, f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "run"))
    study = search.study("gen")
    for generation, states in ((0, ["ok", "ok"]), (1, ["ok", "ok"]), (2, ["fail", "running"])):
        for slot, state in enumerate(states):
            t = study.ask(study.sampler.distributions)  # the search's own sampler: a round of 2
            if state == "ok":
                study.tell(t, [5.0, 20.0 + generation + slot, 8.0])
            elif state == "fail":
                study.tell(t, state=TrialState.FAIL)
    for generation, total in enumerate([50.0, 50.0, 3.0, 3.0, 3.0]):  # rounds timed by runs before (as stored)
        study.set_user_attr(keys.ROUND_SECONDS_PREFIX + str(generation), {"train": total, "total": total})
    assert [(t.user_attrs[keys.GENERATION], t.user_attrs[keys.SLOT]) for t in study.get_trials()] == \
        [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    st = stage_status(search, "gen")
    assert (st["rounds_done"], st["rounds_total"]) == (2, 6)
    assert st["in_progress"] == {"generation": 2, "asked": 2, "told": 1}  # a FAIL is told too
    assert st["seconds_per_round"] == pytest.approx(3.0)  # the pace of the last three rounds
    assert st["eta_seconds"] == pytest.approx(12.0)  # 4 rounds left


@pytest.mark.parametrize(("url", "flag", "hidden"), [
    ("postgresql://u:s3cret@db.example/optgan", " --storage 'postgresql://u:***@db.example/optgan'", True),
    ("postgresql://u@db.example/optgan", " --storage postgresql://u@db.example/optgan", False),
])
def test_printed_commands_name_the_storage_without_its_password(url: str, flag: str, hidden: bool,
                                                                 monkeypatch) -> None:
    monkeypatch.delenv("OPTGAN_STORAGE", raising=False)
    got_flag, note = storage_flag(url)
    assert got_flag == flag and ("password hidden" in note) is hidden and "s3cret" not in got_flag + note


def test_the_printed_train_command_sets_only_the_widths_the_preset_trains_differently() -> None:
    import dataclasses

    from optgan.config.train import load_train_config
    from optgan.study.summary import _PRESETS_DIR, _widths_flags

    preset = _PRESETS_DIR / "train-cifar10.yaml"
    if not preset.is_file():
        pytest.skip("studies/ is not installed here")
    trained = load_train_config(str(preset)).widths
    assert _widths_flags(trained, preset) == ""
    searched = dataclasses.replace(trained, gf_dim=trained.gf_dim // 2)
    assert _widths_flags(searched, preset) == f" --set widths.gf_dim={trained.gf_dim // 2}"
