"""`list_searches` reads counts and start times in two queries; it must say what Optuna's study
summaries (which read every trial of every study) say."""

from __future__ import annotations

import pathlib

import optuna

from optgan import keys
from optgan.config.study import load_study_config
from optgan.runner import run_stage
from optgan.study.listing import list_searches
from optgan.study.search import STAGES, open_storage
from optgan.study.create import create_search

ROOT = pathlib.Path(__file__).resolve().parents[2]
SMALL = ["sampler.population_size=4", "gen_stage.rounds=2", "disc_stage.rounds=1", "caps.gen={}",
         "pictures.sample_grid=false", "pictures.architecture=false", "pictures.rounds=false"]


def _from_optuna_summaries(url: str) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for s in optuna.study.get_all_study_summaries(open_storage(url, create=False), include_best_trial=False):
        search, stage = s.user_attrs.get(keys.SEARCH_NAME), s.user_attrs.get(keys.STAGE)
        if search is None or stage not in STAGES:
            continue
        row = rows.setdefault(search, {"gen_trials": 0, "disc_trials": 0, "missing": [f"{search}:{st}" for st in STAGES],
                                       "moved_to": s.user_attrs.get(keys.MOVED_TO)})
        row[f"{stage}_trials"] = s.n_trials
        row["missing"].remove(f"{search}:{stage}")
        if s.datetime_start is not None:
            started = s.datetime_start.isoformat(timespec="seconds")
            row["started"] = min(row.get("started", started), started)
    return rows


def test_list_says_what_optunas_summaries_say(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'optgan.db'}"
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), SMALL)
    ran = create_search("ran", cfg, url, str(tmp_path / "ran"))
    run_stage(ran, "gen", max_rounds=2)
    run_stage(ran, "disc", max_rounds=1)
    create_search("fresh", cfg, url, str(tmp_path / "fresh"))  # no trials: no start time
    half = create_search("half", cfg, url, str(tmp_path / "half"))
    run_stage(half, "gen", max_rounds=1)
    optuna.delete_study(study_name="half:disc", storage=url)  # deleted behind optgan's back
    optuna.create_study(study_name="not-optgans", storage=url).optimize(lambda t: t.suggest_float("x", 0, 1), 3)
    got = {r.pop("name"): r for r in list_searches(url)}
    assert all(r.pop("run") == {"state": "idle"} for r in got.values())
    assert got == _from_optuna_summaries(url)
    assert got["ran"]["gen_trials"] == 8 and got["ran"]["disc_trials"] == 4 and "started" not in got["fresh"]
    assert got["half"]["missing"] == ["half:disc"]
