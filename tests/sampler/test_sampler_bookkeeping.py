"""Generation bookkeeping on every storage: FAIL and enqueued trials, refusals, lineage."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from optgan import keys
from optgan.errors import ConfigError, ConstraintError
from optgan.sampler import GenerationInProgressError, run_synthetic_search
from optgan.sampler.select_nsga2 import NSGA2Selection
from optgan.sampler.pareto import to_losses
from optgan.search_space.constraints import Caps, is_feasible
from optgan.search_space.genotype import Genotype
from optgan.search_space.widths import CIFAR10_WIDTHS


def by_generation(study: optuna.Study) -> dict[int, list[optuna.trial.FrozenTrial]]:
    out: dict[int, list] = defaultdict(list)
    for t in study.get_trials():
        out[t.user_attrs[keys.GENERATION]].append(t)
    return dict(out)


def fail_some(trial: optuna.Trial) -> bool:
    return trial.number % 5 == 2


def test_generation_invariants_on_every_storage(storage_url, new_study) -> None:
    """One round = one generation with FAIL trials; survivors = selection of the previous one."""
    study = new_study(storage_url, population_size=6, num_survivors=3)
    summary = run_synthetic_search(study, 3, fail=fail_some)
    assert summary.told == 18 and summary.failed == sum(n % 5 == 2 for n in range(18))
    gens = by_generation(study)
    assert sorted(gens) == [0, 1, 2]
    for g, trials in gens.items():
        assert [t.user_attrs[keys.SLOT] for t in trials] == list(range(6))
        assert [t.number for t in trials] == list(range(6 * g, 6 * g + 6))
        assert len({Genotype.from_params("gen", t.params) for t in trials}) == 6
        roles = [t.user_attrs[keys.ROLE] for t in trials]
        assert roles == (["initial"] * 6 if g == 0 else ["survivor"] * 3 + ["child"] * 3)
        if g > 0:
            check_survivors(study, gens, g, n_survivors=3)


def check_survivors(study: optuna.Study, gens: dict, g: int, n_survivors: int) -> None:
    numbers = {t.number: t for t in study.get_trials()}
    prev = [t for t in gens[g - 1] if t.state == TrialState.COMPLETE]
    losses = to_losses([t.values for t in prev], [True, False, False])
    chosen = NSGA2Selection()(losses, n_survivors, np.random.default_rng())
    expected = sorted(prev[i].number for i in chosen)
    survivors = [t for t in gens[g] if t.user_attrs[keys.ROLE] == "survivor"]
    assert [t.user_attrs[keys.PARENTS] for t in survivors] == [[n] for n in expected]
    for t in survivors:  # re-proposed with identical params
        assert t.params == numbers[t.user_attrs[keys.PARENTS][0]].params
    cached = study._storage.get_study_system_attrs(study._study_id)[keys.SURVIVORS_PREFIX + str(g)]
    assert sorted(numbers_by_id(study)[i] for i in cached) == expected
    for t in gens[g]:
        if t.user_attrs[keys.ROLE] == "child":
            assert set(t.user_attrs[keys.PARENTS]) <= set(expected)
            assert t.user_attrs[keys.OPERATORS] in ("crossover", "mutation", "crossover+mutation")


def test_fail_heavy_generations_keep_their_size(new_study) -> None:
    study = new_study(None, population_size=8)
    run_synthetic_search(study, 6, fail=lambda t: t.number % 3 != 0)  # 2/3 of trials FAIL
    gens = by_generation(study)
    assert [len(gens[g]) for g in range(6)] == [8] * 6
    for g in range(1, 6):
        n_complete = sum(t.state == TrialState.COMPLETE for t in gens[g - 1])
        check_survivors(study, gens, g, n_survivors=min(4, n_complete))


def test_a_generation_without_complete_trials_restarts_from_random(new_study) -> None:
    study = new_study(None, population_size=4)
    run_synthetic_search(study, 2, fail=lambda t: t.number < 4)
    assert [t.user_attrs[keys.ROLE] for t in study.trials[4:]] == ["initial"] * 4


def numbers_by_id(study: optuna.Study) -> dict[int, int]:
    return {t._trial_id: t.number for t in study.get_trials()}


def test_enqueued_trials_take_slots_and_are_not_duplicated(storage_url, new_study) -> None:
    study = new_study(storage_url, population_size=6)
    planned = [study.sampler.plan(study, 0)[i].genotype for i in range(3)]
    extra = Genotype("gen", (("bilinear", "nearest", "conv_3x3", "none", "none", "none", "skip_connect"),) * 3)
    for g in (planned[1], extra):  # one of them equals the plan's slot-1 entry
        study.enqueue_trial(g.to_params())
    run_synthetic_search(study, 1)
    trials = study.get_trials()
    assert len(trials) == 6
    genotypes = [Genotype.from_params("gen", t.params) for t in trials]
    assert genotypes[:2] == [planned[1], extra]
    assert [t.user_attrs[keys.ROLE] for t in trials] == ["enqueued"] * 2 + ["initial"] * 4
    assert len(set(genotypes)) == 6 and planned[0] in genotypes and planned[2] in genotypes
    # enqueued in a later generation: it joins that generation and displaces the last child
    other = extra.with_op(2, 6, "conv_5x5")
    study.enqueue_trial(other.to_params())
    run_synthetic_search(study, 2)
    gen1 = by_generation(study)[1]
    assert len(gen1) == 6 and gen1[0].user_attrs[keys.ROLE] == "enqueued"
    assert [t.user_attrs[keys.ROLE] for t in gen1] == ["enqueued"] + ["survivor"] * 3 + ["child"] * 2
    assert len({Genotype.from_params("gen", t.params) for t in gen1}) == 6


def test_partially_enqueued_trials_are_completed(new_study) -> None:
    caps = Caps(params_M=(None, 12.5))
    study = new_study(None, population_size=4, caps=caps)
    study.enqueue_trial({"gen.c1.e2": "none", "gen.c2.e0": "conv_transpose", "lr": 0.1})
    study.enqueue_trial({"gen.c1.e2": "none", "gen.c1.e3": "none"})  # node2 without input
    summary = run_synthetic_search(study, 1)
    first, second = study.trials[:2]
    assert [t.user_attrs[keys.ROLE] for t in study.trials] == ["enqueued"] * 2 + ["initial"] * 2
    g = Genotype.from_params("gen", first.params)
    assert g.op(0, 2) == "none" and g.op(1, 0) == "conv_transpose"
    assert is_feasible(g, CIFAR10_WIDTHS, caps) and first.state == TrialState.COMPLETE
    assert second.state == TrialState.FAIL and summary.failed == 1  # invalid: told FAIL
    assert len(second.params) == 21


def test_next_generation_is_refused_while_running(storage_url, new_study) -> None:
    study = new_study(storage_url, population_size=4)
    dists = study.sampler.distributions
    trials = [study.ask(dists) for _ in range(4)]
    for t in trials[:3]:
        study.tell(t, [1.0, 2.0, 3.0])
    with pytest.raises(GenerationInProgressError, match=r"generation 0 are still RUNNING \(3\)"):
        study.ask(dists)
    assert [t.state for t in study.get_trials()][-1] == TrialState.WAITING  # given back
    study.tell(trials[3], state=TrialState.FAIL)
    again = study.ask(dists)
    assert again.number == 4 and study.trials[4].user_attrs[keys.GENERATION] == 1
    assert len(study.trials) == 5


def test_single_objective_study_is_refused(new_study) -> None:
    study = new_study(None, directions=["minimize"])
    with pytest.raises(ConfigError, match="at least 2"):
        study.ask()


def test_unreachable_caps_stop_with_a_clear_error(new_study) -> None:
    study = new_study(None, caps=Caps(params_M=(0.1, 0.2)), max_tries=50)
    with pytest.raises(ConstraintError) as err:
        study.ask(study.sampler.distributions)
    msg = str(err.value)
    assert "params_M in [0.1, 0.2]" in msg and "50 violated" in msg and "params_M " in msg
    assert "\n" not in msg
    assert study.get_trials()[0].state == TrialState.WAITING


def test_every_proposal_is_feasible_valid_and_unique_per_generation(new_study) -> None:
    caps = Caps(params_M=(None, 12.5), cell_params_M=(0.5, None), flops_M=(None, 3000.0))
    study = new_study(None, population_size=16, caps=caps, selection="scgan", scgan_clusters=4)
    run_synthetic_search(study, 6, fail=fail_some)
    for trials in by_generation(study).values():
        genotypes = [Genotype.from_params("gen", t.params) for t in trials]
        assert len(set(genotypes)) == 16
        assert all(is_feasible(g, CIFAR10_WIDTHS, caps) for g in genotypes)


@pytest.mark.parametrize("selection", ["nsga2", "eagan", "scgan"])
def test_disc_search_and_two_objectives(new_study, selection: str) -> None:
    study = new_study(None, net="disc", directions=["minimize", "minimize"],
                      selection=selection, scgan_clusters=2)
    run_synthetic_search(study, 3, objectives=("FID", "params_M"))
    assert len(study.trials) == 24
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert {t.user_attrs[keys.ROLE] for t in study.trials} == {"initial", "survivor", "child"}


def test_study_optimize_and_foreign_params(new_study) -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float, float]:
        for name, dist in trial.study.sampler.distributions.items():
            trial.suggest_categorical(name, dist.choices)
        lr = trial.suggest_float("lr", 1e-5, 1e-2, log=True)
        g = Genotype.from_params("gen", trial.params)
        return 1.0 + lr, float(len(str(g))), float(trial.number % 3)

    values = []
    for _ in range(2):
        study = new_study(None, population_size=4)
        study.optimize(objective, n_trials=12)
        values.append([t.params for t in study.trials])
        assert [t.user_attrs[keys.GENERATION] for t in study.trials] == [0] * 4 + [1] * 4 + [2] * 4
    assert values[0] == values[1]


def test_partial_enqueues_are_completed_per_slot_reproducibly() -> None:
    """The free edges of a partially enqueued trial come from the stream of its generation and
    slot: the same partial params in two slots get different completions, the same slot again
    the same one (a resume)."""
    from optgan.sampler.bookkeeping import Membership
    from optgan.sampler.constrained import ConstrainedDraw
    from optgan.sampler.enqueued import enqueued_genotype
    from optgan.search_space import CIFAR10_WIDTHS, Caps
    from optgan.search_space.distributions import param_distributions

    name = next(iter(param_distributions("gen")))
    fixed = {name: param_distributions("gen")[name].choices[0]}
    draw = ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 100)

    def complete(generation: int, slot: int):  # noqa: ANN202
        return enqueued_genotype(fixed, Membership(generation, slot), net="gen", seed=3, constrained=draw)

    assert complete(0, 1) == complete(0, 1)
    assert len({complete(0, 1), complete(0, 2), complete(1, 1)}) == 3


def test_params_outside_the_proposal_differ_per_slot(new_study) -> None:
    """A parameter the objective asks for besides the architecture (e.g. a learning rate) is drawn
    per generation, slot and name: four trials of a generation get four values."""
    from optgan.search_space.distributions import param_distributions

    study = new_study(population_size=4)
    values = []
    for _ in range(4):
        trial = study.ask(param_distributions("gen"))
        values.append(trial.suggest_float("lr", 1e-5, 1e-3, log=True))
    assert len(set(values)) == 4


def test_the_dry_run_driver_refuses_a_search_study(new_study) -> None:
    # a study of an `optgan study create` search is `optgan run`'s: synthetic trials would mix with its own
    study = new_study(population_size=4)
    study.set_user_attr(keys.SEARCH_NAME, "demo")
    with pytest.raises(ConfigError, match=r"belongs to the optgan search 'demo': run that with `optgan run demo`"):
        run_synthetic_search(study, 1)
    assert study.trials == []


@pytest.mark.parametrize(("directions", "objectives", "message"), [
    (None, ("IS", "FID"), r"^2 objectives \['IS', 'FID'\] for a study with 3 directions$"),
    (None, ("IS", "FID", "loss"), r"^objective 'loss' is unknown; allowed: IS, FID, "),
    (None, ("FID", "IS", "params_M"), r"^objective 'FID' must be minimized, the study says maximize$"),
    (["maximize", "maximize", "minimize"], ("IS", "FID", "params_M"),
     r"^objective 'FID' must be minimized, the study says maximize$"),
    (["maximize", "minimize", "maximize"], ("IS", "FID", "params_M"),
     r"^objective 'params_M' must be minimized, the study says maximize$"),
])
def test_the_dry_run_driver_refuses_objectives_that_do_not_fit_the_study(new_study, directions, objectives,
                                                                        message) -> None:
    """`run_synthetic_search` (the library's dry run): objectives that the study's directions
    contradict, unknown ones, or the wrong number are one ConfigError, before any trial."""
    study = new_study(population_size=4, directions=directions)
    with pytest.raises(ConfigError, match=message):
        run_synthetic_search(study, 1, objectives=objectives)
    assert study.trials == []


def test_the_dry_run_driver_refuses_a_study_without_the_optgan_sampler() -> None:
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    with pytest.raises(ConfigError, match=r"does not use the optgan sampler; build it with optgan.sampler.make_sampler"):
        run_synthetic_search(study, 1)
    assert study.trials == []


def test_the_ga_hooks_read_generations_from_the_tags(new_study) -> None:
    """Optuna's GA-sampler hooks: a trial's generation is its tag (a trial the sampler never
    tagged is refused), and a generation's population is its COMPLETE members only."""
    study = new_study(population_size=4)
    run_synthetic_search(study, 2, fail=lambda t: t.number == 5)
    sampler = study.sampler
    assert [sampler.get_trial_generation(study, t) for t in study.trials] == [0] * 4 + [1] * 4
    assert [t.number for t in sampler.get_population(study, 1)] == [4, 6, 7]  # trial 5 FAILed
    assert sampler.get_population(study, 2) == []
    stray = study._storage.create_new_trial(study._study_id)  # not proposed by the sampler
    with pytest.raises(ValueError, match=r"^trial 8 was not proposed by the optgan sampler$"):
        sampler.get_trial_generation(study, study._storage.get_trial(stray))


def test_the_sampler_refuses_another_network_and_a_negative_seed() -> None:
    from optgan.config.sampler import SamplerConfig
    from optgan.sampler import OptganSampler

    with pytest.raises(ConfigError, match=r"^sampler `net` = 'generator'; allowed: gen, disc$"):
        OptganSampler(net="generator")
    with pytest.raises(ConfigError, match=r"^`seed` = -1 must be ≥ 0 \(it seeds every proposal\)$"):
        OptganSampler(net="gen", config=SamplerConfig(), seed=-1)
