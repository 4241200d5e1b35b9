"""⑤ How good: extractors, IS / FID / KID, reference statistics, batched population evaluation.

The pipeline reads like a diagram: latents → candidate → :func:`quantize_to_uint8` → extractor
(`inception` canonical, or `classifier`) → float64 moments → :func:`frechet_distance`,
:func:`inception_score`, :func:`kernel_inception_distance`. :class:`PopulationEvaluator` does it
for a whole population in one streaming pass against cached reference statistics; result keys
are the constants of :mod:`optgan.metrics.keys` (classifier scores carry a `_classifier` label).
"""

from optgan.metrics import extractor_classifier as _register_classifier  # noqa: F401  (registers)
from optgan.metrics import extractor_inception as _register_inception  # noqa: F401  (registers)
from optgan.metrics.availability import check_objectives_available
from optgan.metrics.evaluator import Candidate, CandidateScores, PopulationEvaluator, make_latent_bank
from optgan.metrics.extractor_base import (
    FeatureExtractor,
    RealImages,
    create_extractor,
    register_extractor,
    registered_extractors,
)
from optgan.metrics.keys import (
    CANONICAL_EXTRACTOR,
    FID,
    FID_CLASSIFIER,
    IS,
    IS_CLASSIFIER,
    IS_CLASSIFIER_STD,
    IS_STD,
    KID,
    KID_CLASSIFIER,
    KID_CLASSIFIER_STD,
    KID_STD,
    METRICS,
    NUM_IMAGES,
    objective_display_name,
    result_key,
    result_keys,
)
from optgan.metrics.metric_fid import features_to_statistics, frechet_distance
from optgan.metrics.metric_is import inception_score
from optgan.metrics.metric_kid import kernel_inception_distance
from optgan.metrics.quantize import quantize_to_uint8
from optgan.metrics.reference import ReferenceStats, reference_statistics

__all__ = [
    "PopulationEvaluator", "CandidateScores", "Candidate", "make_latent_bank",
    "FeatureExtractor", "RealImages", "create_extractor", "register_extractor", "registered_extractors",
    "check_objectives_available",
    "frechet_distance", "features_to_statistics", "inception_score", "kernel_inception_distance",
    "quantize_to_uint8", "ReferenceStats", "reference_statistics",
    "objective_display_name", "result_key", "result_keys",
    "IS", "IS_STD", "FID", "KID", "KID_STD", "NUM_IMAGES", "METRICS", "CANONICAL_EXTRACTOR",
    "IS_CLASSIFIER", "IS_CLASSIFIER_STD", "FID_CLASSIFIER", "KID_CLASSIFIER", "KID_CLASSIFIER_STD",
]
