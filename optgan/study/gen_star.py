"""G* of stage `disc`: the generator every D candidate is paired with, chosen once per search.

Default rule: lowest FID on the Pareto front of stage `gen`'s last round
(`optgan.study.results.choose_best`); `optgan run --gen-trial N` or `--gen-arch FILE` choose
another before stage `disc` starts. The choice is stored on the stage-`disc` study
(`optgan:gen_star`, `optgan:gen_star_source`), so every later run and resume uses the same G*.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import optuna

from optgan import keys
from optgan.engines.base import stage_rounds
from optgan.errors import OptganError
from optgan.search_space import Genotype
from optgan.study.search import Search

__all__ = ["GenChoice", "fix_gen_star", "resolve_gen_override"]

log = logging.getLogger(__name__)


def fix_gen_star(search: Search, disc_study: optuna.Study, choice: GenChoice | Genotype | None) -> Genotype:
    """G* of stage `disc`: fixed at its first run (stored on the study), so resumes agree.

    Default rule: lowest FID on the Pareto front of stage `gen`'s last round
    (`optgan.study.results.choose_best`); `--gen-trial` / `--gen-arch` override it before
    stage `disc` has started, and are refused afterwards if they disagree.
    """
    from optgan.study.results import choose_best

    if isinstance(choice, Genotype):
        choice = GenChoice(choice)
    override = None if choice is None else choice.genotype
    stored = disc_study.user_attrs.get(keys.GEN_STAR)
    if stored is not None:
        fixed = Genotype.from_json(stored, "gen")
        if override is not None and override != fixed:
            raise OptganError(f"stage disc of {search.name!r} already runs with G* = {fixed}; "
                              "a different --gen-trial/--gen-arch needs a new search")
        return fixed
    if override is None:
        from optgan.study.results import completed_rounds

        gen = search.study("gen")
        done, total = len(completed_rounds(gen, search.config.sampler.population_size)), stage_rounds(search.config, "gen")
        if done < total:  # G* is fixed for good: never from a stage that is still searching
            raise OptganError(f"stage gen has {done}/{total} rounds; finish it first (`optgan run {search.name} "
                              "--stage gen`) or choose G* now with --gen-trial N or --gen-arch FILE")
        trial = choose_best(gen, search.config.objectives)
        override = Genotype.from_params("gen", trial.params)
        source = f"trial {trial.number} of {search.name}:gen"
    else:
        source = choice.source  # type: ignore[union-attr]
    disc_study.set_user_attr(keys.GEN_STAR_SOURCE, source)
    disc_study.set_user_attr(keys.GEN_STAR, override.to_json_dict())  # last: a crash between leaves no G*
    log.info("stage disc: G* = %s (%s)", override, source)
    return override


@dataclass(frozen=True)
class GenChoice:
    """A G* chosen by the user, and where it came from (stored as `optgan:gen_star_source`)."""

    genotype: Genotype
    source: str = "user override"


def warn_outside_caps(genotype: Genotype, search: Search) -> None:
    """A G* from outside the search may break the caps its own generators kept: allowed (it is the
    user's choice), but said, since the search's sizes and scores assume them."""
    from optgan.search_space.constraints import check_caps

    violations = check_caps(genotype, search.config.widths, search.config.caps.gen)
    if violations:
        log.warning("the G* given (--gen-arch) is outside the search's generator caps (%s): %s; stage disc "
                    "trains with it anyway", search.config.caps.gen.describe(), "; ".join(map(str, violations)))


def resolve_gen_override(search: Search, gen_trial: int | None, gen_arch: str | None) -> GenChoice | None:
    """G* for stage `disc` from `--gen-trial N` or `--gen-arch FILE` (None = the default rule)."""
    from optgan.search_space import load_genotype

    if gen_arch is not None:
        from optgan.trainer.final_setup import warn_other_widths

        genotype = load_genotype(gen_arch, "gen", what="--gen-arch")
        warn_other_widths(gen_arch, "gen", search.config.widths)  # e.g. exported from a smaller search
        warn_outside_caps(genotype, search)
        return GenChoice(genotype, f"user override (--gen-arch {gen_arch})")
    if gen_trial is None:
        return None
    from optgan.study.results import trial_by_number

    gen = search.study("gen")
    trial = trial_by_number(gen, gen_trial)
    if trial is None or not trial.params:
        n = len(gen.trials)
        held = f"it has trials 0..{n - 1}" if n else "it has no trials yet; run stage gen first"
        raise OptganError(f"--gen-trial {gen_trial}: no such trial in study {search.name}:gen ({held})")
    return GenChoice(Genotype.from_params("gen", trial.params), f"trial {gen_trial} of {search.name}:gen (--gen-trial)")
