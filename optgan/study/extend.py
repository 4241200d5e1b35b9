"""Change how many rounds a search's stages run after `study create` (`optgan study extend`).

A stage's round count only says where it stops: no schedule, seed or sampler stream depends on
it (each generation's proposals come from (seed, generation, slot), checkpoints hold every RNG
state). So a search of 10 rounds extended to 20 follows exactly the course of a search created
with 20. Refused: fewer rounds than a stage has begun, and changing stage `gen` once stage
`disc` has fixed G* (chosen from stage `gen`'s last round, it would no longer be).
"""

from __future__ import annotations

import json

from optgan import keys
from optgan.config.base import to_dict
from optgan.config.study import study_config_from_dict
from optgan.engines.base import stage_rounds
from optgan.errors import ConfigError, OptganError
from optgan.study.results import fixed_gen_star, rounds_of
from optgan.study.search import STAGES, Search, stage_study_name

__all__ = ["extend_search"]


def extend_search(search: Search, rounds: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Store `stage -> total rounds` in the search's config; returns `stage -> (old, new)`.

    Call it under the search's run lease (never while `optgan run` runs it).
    """
    changes: dict[str, tuple[int, int]] = {}
    for stage, total in rounds.items():
        old = stage_rounds(search.config, stage)
        begun = max(rounds_of(search.study(stage)), default=-1) + 1
        if total < begun:
            raise ConfigError(f"stage {stage} of {search.name!r} has begun {begun} rounds; it cannot stop after "
                              f"{total} (give at least {begun})")
        star = fixed_gen_star(search.study("disc")) if stage == "gen" and total != old else None
        if star is not None:
            raise OptganError(f"stage disc of {search.name!r} already runs with G* = {star.source}; more stage-gen "
                              "rounds would not change it. Extend stage disc (--disc-rounds), or search anew with "
                              f"this config (`optgan study show {search.name}`)")
        changes[stage] = (old, total)
    data = to_dict(search.config)
    for stage, (_, total) in changes.items():
        data[f"{stage}_stage"]["rounds"] = total
    config = study_config_from_dict(data)  # validated like a new config
    stored = json.dumps(to_dict(config))
    for stage in reversed(STAGES):  # stage gen's copy, the one `load_search` reads, last
        study_id = search.storage.get_study_id_from_name(stage_study_name(search.name, stage))
        search.storage.set_study_user_attr(study_id, keys.CONFIG, stored)
    search.config = config
    return changes
