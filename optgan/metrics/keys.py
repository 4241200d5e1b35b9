"""The names of every score optgan.metrics produces (result keys are a format: never rename).

Canonical Inception scores use the plain names (`IS`, `FID`, `KID`). Scores computed with any
other extractor carry the extractor's name as a suffix (`IS_classifier`, `FID_classifier`,
...), so a classifier-based number can never be mistaken for a canonical one in a results
table, a JSON file or the Optuna dashboard.
"""

from __future__ import annotations

__all__ = [
    "IS", "IS_STD", "FID", "KID", "KID_STD", "NUM_IMAGES", "METRICS", "CANONICAL_EXTRACTOR",
    "IS_CLASSIFIER", "IS_CLASSIFIER_STD", "FID_CLASSIFIER", "KID_CLASSIFIER", "KID_CLASSIFIER_STD",
    "result_key", "objective_display_name", "result_keys",
]

#: the metric names a config may ask for (also the names of the study objectives)
METRICS = ("IS", "FID", "KID")
#: the extractor whose scores are the papers' canonical IS / FID / KID
CANONICAL_EXTRACTOR = "inception"

IS = "IS"
IS_STD = "IS_std"
FID = "FID"
KID = "KID"
KID_STD = "KID_std"
#: images generated per candidate for the scores (always present in a result)
NUM_IMAGES = "num_images"

IS_CLASSIFIER = "IS_classifier"
IS_CLASSIFIER_STD = "IS_classifier_std"
FID_CLASSIFIER = "FID_classifier"
KID_CLASSIFIER = "KID_classifier"
KID_CLASSIFIER_STD = "KID_classifier_std"


def result_key(metric: str, extractor: str, *, std: bool = False) -> str:
    """Key of `metric` (`IS`, `FID`, `KID`) computed with `extractor`, e.g. `FID_classifier`."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if std and metric == "FID":
        raise ValueError("FID has no std")
    key = metric if extractor == CANONICAL_EXTRACTOR else f"{metric}_{extractor}"
    return f"{key}_std" if std else key


def objective_display_name(objective: str, extractor: str) -> str:
    """Name shown for a study objective: metric objectives are labelled by their extractor."""
    return result_key(objective, extractor) if objective in METRICS else objective


def result_keys(metrics: tuple[str, ...] | list[str], extractor: str) -> tuple[str, ...]:
    """Every value key a result of `metrics` holds (means, stds, then `num_images`)."""
    keys: list[str] = []
    for m in METRICS:
        if m in metrics:
            keys.append(result_key(m, extractor))
            if m != "FID":
                keys.append(result_key(m, extractor, std=True))
    return (*keys, NUM_IMAGES)
