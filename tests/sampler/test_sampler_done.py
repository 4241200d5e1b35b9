"""The issue's acceptance run: 50 generations of P = 32 under caps admitting ~10 % of random G.

In memory the full size takes seconds. SQLite costs ~0.1–0.3 s per trial in Optuna's own RDB
layer on a 2-core machine, so the SQLite variant here is smaller (the full SQLite run is
`python bench/sampler.py --full`).
"""

from __future__ import annotations

from collections import defaultdict

import optuna
import pytest
from optuna.trial import TrialState

from optgan import keys
from optgan.sampler import run_synthetic_search
from optgan.search_space.constraints import Caps, is_feasible
from optgan.search_space.genotype import Genotype
from optgan.search_space.widths import CIFAR10_WIDTHS


def fail_some(trial: optuna.Trial) -> bool:
    return trial.number % 9 == 4


def check_acceptance(study: optuna.Study, generations: int, population: int, caps: Caps) -> None:
    trials = study.get_trials()
    assert len(trials) == generations * population
    gens: dict[int, list] = defaultdict(list)
    for t in trials:
        gens[t.user_attrs[keys.GENERATION]].append(t)
    by_number = {t.number: t for t in trials}
    assert sorted(gens) == list(range(generations))
    for g, members in gens.items():
        assert len(members) == population
        genotypes = [Genotype.from_params("gen", t.params) for t in members]  # valid
        assert len(set(genotypes)) == population  # no duplicate within a generation
        assert all(is_feasible(x, CIFAR10_WIDTHS, caps) for x in genotypes)
        for t in members:
            if t.user_attrs[keys.ROLE] == "survivor":
                (parent,) = t.user_attrs[keys.PARENTS]
                assert by_number[parent].params == t.params
                assert by_number[parent].user_attrs[keys.GENERATION] == g - 1
                assert by_number[parent].state == TrialState.COMPLETE
    assert sum(t.state == TrialState.FAIL for t in trials) == sum(fail_some(t) for t in trials)


@pytest.mark.parametrize("selection, generations", [("nsga2", 50), ("eagan", 20), ("scgan", 20)])
def test_fifty_generations_in_memory(new_study, ten_percent_caps, selection: str, generations: int) -> None:
    study = new_study(None, population_size=32, caps=ten_percent_caps, selection=selection)
    run_synthetic_search(study, generations, fail=fail_some)
    check_acceptance(study, generations, 32, ten_percent_caps)


def test_acceptance_on_sqlite(new_study, ten_percent_caps, tmp_path) -> None:
    study = new_study(f"sqlite:///{tmp_path / 'done.db'}", population_size=16, caps=ten_percent_caps)
    run_synthetic_search(study, 3, fail=fail_some)
    check_acceptance(study, 3, 16, ten_percent_caps)
