"""Checks run before a search is created, so a bad set-up writes nothing.

Every check raises the library's one-line error: an unreadable data set, one smaller than a
batch, an extractor that cannot give the requested objectives (e.g. IS with pool3-only Inception
weights) or cannot learn from the data (the classifier without labels), a fixed discriminator
genotype that does not fit the space, caps that admit no architecture.
"""

from __future__ import annotations

import numpy as np

from optgan.config.study import StudyConfig
from optgan.sampler.constrained import ConstrainedDraw
from optgan.errors import GenotypeError
from optgan.search_space import Genotype, load_genotype, random_genotype

__all__ = ["preflight"]


def preflight(config: StudyConfig):  # noqa: ANN201 - ImageSet | None (import cost)
    """Validate everything a run of `config` will need, without training anything; returns the
    data set a real search trains on (None for a synthetic one)."""
    if config.gen_stage.discriminator != "simple":
        try:
            load_genotype(config.gen_stage.discriminator, "disc")
        except GenotypeError as e:
            raise GenotypeError(f"`gen_stage.discriminator` must be 'simple' or a D genotype (JSON, or a JSON "
                                f"file): {e}") from None
    for net in ("gen", "disc"):
        caps = config.caps.for_net(net)
        if caps.is_empty:
            continue
        rng = np.random.default_rng(config.seed)
        draw: ConstrainedDraw[None] = ConstrainedDraw(config.widths, caps, config.sampler.max_tries)
        size, taken = config.sampler.population_size, set[Genotype]()
        for slot in range(size):  # a first generation: P distinct architectures within the caps
            genotype, _ = draw(lambda: (random_genotype(net, rng), None), taken,
                               f"the {net} search space (architecture {slot + 1} of a first generation of {size})")
            taken.add(genotype)
    if config.evaluation.kind != "real":
        return None
    from optgan.metrics import check_objectives_available
    from optgan.metrics.availability import check_extractor_data, check_reference_size
    from optgan.metrics.cache import check_cache_dir
    from optgan.trainer.data import load_images
    from optgan.trainer.data.stream import check_batch_size

    check_cache_dir(config.metrics.resolved_cache_dir, "set `metrics.cache_dir` to a writable folder")
    check_objectives_available(config.metrics, config.objectives)  # a wrong weights path fails before any loading
    images = load_images(config.data, config.widths.img_size)
    for name, stage in (("gen_stage", config.gen_stage), ("disc_stage", config.disc_stage)):
        check_batch_size(stage.batch_size_d, len(images), f"{name}.batch_size_d")
    check_extractor_data(config.metrics, images)
    check_reference_size(config.metrics, len(images))
    return images
