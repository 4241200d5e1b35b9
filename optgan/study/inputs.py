"""What a search's scores depend on besides its stored config: the data's content and the extractor.

`optgan run` may point a search at its data and caches anew on every run (another host,
`--data-root`, a rebuilt cache folder). The data is recorded (stage `gen`'s study attrs) by
`optgan study create`, the extractor by the first run once it has scored a round or saved a
checkpoint (a first run that fails early records nothing); every later run compares, so scores
of different rounds always come from the same images and the same extractor weights.
"""

from __future__ import annotations

import json
from typing import Any

from optgan import keys
from optgan.errors import ConfigError

__all__ = ["check_same_data", "check_same_extractor", "record_inputs", "describe_data", "short"]


def check_same_data(search, images) -> dict[str, Any]:  # noqa: ANN001 - Search, ImageSet (import cycles)
    """Refuse data whose content differs from what the search trained on so far; returns what to
    :func:`record_inputs` (empty when it is recorded already)."""
    now = {"name": images.name, "num_images": len(images), "fingerprint": images.fingerprint}
    before = _recorded(search, keys.DATA_IDENTITY)
    if before is None:
        return {keys.DATA_IDENTITY: now}
    if before.get("fingerprint") != now["fingerprint"]:
        raise ConfigError(
            f"the data set found now ({describe_data(now)}) is not the one search {search.name!r} was created with "
            f"({describe_data(before)}); point `data.root` / `data.path` at the same images "
            f"(`optgan run {search.name} --data-root DIR` or `--set data.path=FILE`)")
    return {}


def check_same_extractor(search, identity: dict[str, Any]) -> dict[str, Any]:  # noqa: ANN001 - Search
    """Refuse a feature extractor (weights, mode) other than the one earlier rounds were scored with;
    returns what to :func:`record_inputs` (empty when it is recorded already)."""
    from optgan.metrics.extractor_base import identity_change

    before = _recorded(search, keys.EXTRACTOR_IDENTITY)
    if before is None:
        return {keys.EXTRACTOR_IDENTITY: identity}
    change = identity_change(before, identity)
    if change is None:
        return {}
    shown, cause = change
    fix = {
        "extractor": "the stored config fixes the extractor; was the search's study edited?",
        "version": "it was scored by another optgan version's extractor: finish it with that version or start a new search",
        "classifier": ("copy the trained classifier (`classifier/*.pt` of `metrics.cache_dir`) from the machine that "
                       f"began the search and pass that folder with `optgan run {search.name} --set metrics.cache_dir=DIR`"),
        "weights": f"pass the same weights file with `optgan run {search.name} --inception-weights FILE`",
        # `metrics.mode: fast` falls back to exact fp32 without CUDA
        "mode": f"run it on the kind of device it began on (`optgan run {search.name} --set device=…`)",
    }[cause]
    raise ConfigError(f"the feature extractor differs from the one search {search.name!r} was scored with "
                      f"({shown}), so new scores would not compare with earlier rounds; {fix}")


def record_inputs(search, pending: dict[str, Any]) -> None:  # noqa: ANN001 - Search
    """Store what :func:`check_same_data` / :func:`check_same_extractor` returned (call it once the
    run has saved state that depends on them)."""
    if pending:
        storage, study_id = _gen_study(search)
        for key, value in pending.items():
            storage.set_study_user_attr(study_id, key, json.loads(json.dumps(value)))


def _gen_study(search):  # noqa: ANN001, ANN202
    from optgan.study.search import incomplete_search_error, stage_study_name

    try:
        return search.storage, search.storage.get_study_id_from_name(stage_study_name(search.name, "gen"))
    except KeyError:
        raise incomplete_search_error(search.name, search.storage_url, "gen") from None


def _recorded(search, key: str) -> dict[str, Any] | None:  # noqa: ANN001
    storage, study_id = _gen_study(search)
    return storage.get_study_user_attrs(study_id).get(key)


def describe_data(d: dict[str, Any]) -> str:
    """A recorded data identity in words: name, size, shortened fingerprint."""
    return f"{d.get('name')}, {d.get('num_images')} images, fingerprint {short(d.get('fingerprint'))}"


def short(value: Any) -> str:
    """A hash shortened to 12 characters and `…`; other values as they are."""
    from optgan.metrics.extractor_base import short_hash

    return short_hash(value)
