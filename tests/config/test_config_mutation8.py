"""Properties of config validation that earlier tests left open (mutation testing, round 8).

Each test states the property it checks: a broken config is a one-line ConfigError naming the
key (and the fix), a valid one loads. All are pure and run in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from optgan.config.base import from_dict
from optgan.config.study import (
    RUN_MAY_CHANGE,
    load_study_config,
    study_config_from_dict,
    with_absolute_paths,
    with_machine_settings,
)
from optgan.config.train import load_train_config, train_config_from_dict
from optgan.config.yaml_input import apply_overrides, load_yaml
from optgan.errors import ConfigError
from optgan.search_space.widths import MAX_WIDTH


def _study(*overrides: str):  # noqa: ANN202
    return study_config_from_dict(apply_overrides({}, list(overrides)))


def _refused(needle: str, *overrides: str) -> str:
    with pytest.raises(ConfigError) as e:
        _study(*overrides)
    assert needle in str(e.value) and "\n" not in str(e.value)
    return str(e.value)


@dataclass(frozen=True)
class _Needs:
    name: str


@dataclass(frozen=True)
class _Holder:
    needs: _Needs | None = None
    pair: tuple[float, float] = (0.0, 1.0)
    either: int | str = 0
    level: Literal[0, 1] = 0


def test_an_unknown_key_in_a_section_is_named_with_its_section() -> None:
    """A key that only other sections have (`seed` under `data:`) is unknown there, not a traceback."""
    _refused("unknown key `data.seed` in `data`", "data.seed=1")
    _refused("unknown key `widths.seed` in `widths`", "widths.seed=1")


def test_a_missing_required_key_is_named_with_its_full_path() -> None:
    """A required key missing from a nested section is named as `section.key`."""
    with pytest.raises(ConfigError) as e:
        from_dict(_Holder, {"needs": {}})
    assert str(e.value) == "missing required key `needs.name`"


def test_a_fixed_length_list_that_is_too_short_is_refused() -> None:
    """A pair given one element is an error (not silently cut to a 1-tuple)."""
    with pytest.raises(ConfigError) as e:
        from_dict(_Holder, {"pair": [1]})
    assert str(e.value) == "`pair` must have 2 elements, got 1"
    assert from_dict(_Holder, {"pair": [1, 2]}).pair == (1.0, 2.0)


def test_null_is_refused_where_the_type_does_not_allow_it() -> None:
    """`null` for a union without None is a type error, not a None slipped into the config."""
    with pytest.raises(ConfigError, match="`either` = None has the wrong type"):
        from_dict(_Holder, {"either": None})
    assert from_dict(_Holder, {"either": "s"}).either == "s"


def test_a_bool_is_not_a_literal_number() -> None:
    """`true` is not the allowed value 1 of a Literal[0, 1] (YAML booleans are not numbers)."""
    with pytest.raises(ConfigError, match="`level` = True is not allowed"):
        from_dict(_Holder, {"level": True})
    assert from_dict(_Holder, {"level": 1}).level == 1


def test_a_string_is_not_a_list() -> None:
    """`objectives: IS` (a string where a list belongs) says `must be a list`, not `objectives[0]` = 'I'."""
    msg = _refused("`objectives` must be a list, got str", "objectives=IS")
    assert "objectives[0]" not in msg
    _refused("`metrics.metrics` must be a list, got str", "metrics.metrics=FID")


def test_a_bool_is_not_an_integer_or_a_number() -> None:
    """`true` / `false` are refused for integer and float keys (they would pass as 1 / 0)."""
    _refused("`seed` must be an integer, got True", "seed=true")
    _refused("`sampler.population_size` must be an integer, got True", "sampler.population_size=true")
    _refused("`gen_stage.lr_g` must be a number, got True", "gen_stage.lr_g=true")
    _refused("`sampler.crossover_prob` must be a number, got False", "sampler.crossover_prob=false")


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "inf"])
def test_infinite_and_nan_floats_are_refused(value: str) -> None:
    """±inf and NaN pass every range check, so the float type refuses them up front."""
    _refused("`gen_stage.lr_g` must be a finite number", f"gen_stage.lr_g={value}")


def test_a_nul_anywhere_in_a_string_is_refused() -> None:
    """A NUL at the very start of a path is refused like one in the middle."""
    _refused("`run_dir` contains a NUL character", 'run_dir="\\0runs"')


def test_a_key_given_twice_in_a_file_is_refused(tmp_path) -> None:
    """Two `seed:` lines (or a key twice in a nested section) is an error, not "last one wins"."""
    (tmp_path / "a.yaml").write_text("seed: 1\nsampler:\n  seed: 2\nseed: 3\n")
    with pytest.raises(ConfigError, match=r"key 'seed' is given twice"):
        load_yaml(str(tmp_path / "a.yaml"))
    (tmp_path / "b.yaml").write_text("sampler:\n  seed: 2\n  seed: 2\n")
    with pytest.raises(ConfigError, match=r"\(line 3, column 3\).*given twice"):
        load_yaml(str(tmp_path / "b.yaml"))


def test_override_keys_are_stripped_and_values_may_hold_an_equals_sign() -> None:
    """`--set " sampler . seed = 3"` sets `sampler.seed`; only the first `=` splits key from value."""
    assert apply_overrides({}, [" sampler . seed = 3"]) == {"sampler": {"seed": 3}}
    assert apply_overrides({}, ["run_dir=runs/a=b"]) == {"run_dir": "runs/a=b"}
    assert _study("data.name=npz", "data.path=x=y.npz").data.path == "x=y.npz"


def test_an_override_value_with_a_self_referring_alias_is_refused() -> None:
    """An override value whose YAML alias refers to itself (or multiplies) is a one-line error."""
    with pytest.raises(ConfigError, match="override 'seed=&a \\[\\*a\\]' has a YAML alias that refers to itself"):
        apply_overrides({}, ["seed=&a [*a]"])
    bomb = "x=[" + ", ".join(["&a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"] + [
        f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]) + "]"
    with pytest.raises(ConfigError, match="expands to more than 100,000 values"):
        apply_overrides({}, [bomb])


_CHANGES = {
    "device": "cpu",
    "cpu_threads": "2",
    "data.root": "/elsewhere",
    "data.path": "/elsewhere/x.npz",
    "data.download": "true",
    "metrics.cache_dir": "/cache",
    "metrics.inception_weights": "/w.pth",
    "metrics.inception_download": "false",
}


def test_run_may_change_is_the_documented_set() -> None:
    """README 'Studies, configs and presets': exactly these keys may change on `optgan run`."""
    assert sorted(RUN_MAY_CHANGE) == sorted(_CHANGES)


@pytest.mark.parametrize("key", sorted(_CHANGES))
def test_each_machine_setting_may_change_on_a_run(key: str) -> None:
    """Each key of RUN_MAY_CHANGE is taken by `optgan run --set` and changes only that key."""
    base = ["data.name=npz", "data.path=/data/x.npz"] if key == "data.path" else []
    stored = with_absolute_paths(_study(*base))
    got = with_machine_settings(stored, [f"{key}={_CHANGES[key]}"])
    section, _, name = key.rpartition(".")
    before, after = (getattr(getattr(c, section), name) if section else getattr(c, name) for c in (stored, got))
    assert after != before
    assert got.sampler == stored.sampler and got.seed == stored.seed and got.objectives == stored.objectives


@pytest.mark.parametrize("item", ["evaluation.kind=synthetic", "gen_stage.rounds=3", "data.name=digits",
                                  "metrics.extractor=classifier", "run_dir=/other"])
def test_search_keys_may_not_change_on_a_run(item: str) -> None:
    """A key that is part of the search is refused on `optgan run`, naming the key and the allowed ones."""
    key = item.split("=")[0]
    with pytest.raises(ConfigError) as e:
        with_machine_settings(_study(), [item])
    assert f"`{key}` is part of the search" in str(e.value) and "metrics.inception_download" in str(e.value)


def test_a_fixed_key_is_named_as_fixed_even_with_a_bad_or_equal_value() -> None:
    """`optgan run --set seed=...` says `seed` cannot change, whatever the value (even a wrong type
    or the stored value): the fix is not to correct the value."""
    for item in ("seed=oops", "seed=0", "sampler.population_size=[1]"):
        with pytest.raises(ConfigError, match="is part of the search"):
            with_machine_settings(_study(), [item])


def test_every_stored_path_is_made_absolute(tmp_path, monkeypatch) -> None:
    """`optgan study create` stores `data.path`, `data.root`, `metrics.cache_dir`,
    `metrics.inception_weights` and `run_dir` absolute; a run's `--set` of them too."""
    monkeypatch.chdir(tmp_path)
    got = with_absolute_paths(_study("data.name=npz", "data.path=d/x.npz", "data.root=r",
                                     "metrics.cache_dir=c", "metrics.inception_weights=w.pth", "run_dir=runs"))
    assert got.data.path == str(tmp_path / "d" / "x.npz") and got.data.root == str(tmp_path / "r")
    assert got.metrics.cache_dir == str(tmp_path / "c")
    assert got.metrics.inception_weights == str(tmp_path / "w.pth") and got.run_dir == str(tmp_path / "runs")
    ran = with_machine_settings(got, ["metrics.inception_weights=v.pth"])
    assert ran.metrics.inception_weights == str(tmp_path / "v.pth")


def _train(*overrides: str):  # noqa: ANN202
    return train_config_from_dict(apply_overrides({}, list(overrides)))


@pytest.mark.parametrize("stage", ["gen_stage", "disc_stage"])
def test_stage_bounds_at_their_edges(stage: str) -> None:
    """`epochs_per_round: 0` (evaluate only) loads; a zero learning rate of either network or zero
    iterations per epoch is refused, naming the stage's key."""
    assert getattr(_study(f"{stage}.epochs_per_round=0"), stage).epochs_per_round == 0
    assert getattr(_study(f"{stage}.iters_per_epoch=1"), stage).iters_per_epoch == 1
    for key in ("lr_g", "lr_d"):
        _refused(f"`{stage}.{key}` = 0.0 is out of range", f"{stage}.{key}=0")
    _refused(f"`{stage}.iters_per_epoch` = 0 is out of range", f"{stage}.iters_per_epoch=0")


@pytest.mark.parametrize("selection", ["nsga2", "eagan", "scgan"])
def test_no_variation_at_all_is_refused_for_every_selection(selection: str) -> None:
    """Crossover and mutation both 0 copy survivors forever, whichever selection is used."""
    _refused("are both 0", f"sampler.selection={selection}", "sampler.crossover_prob=0", "sampler.mutation_prob=0")


def test_classifier_bounds_at_their_edges() -> None:
    """`metrics.classifier.feature_dim` is capped at MAX_WIDTH like `width`; weight decay 0 is allowed."""
    _refused(f"`metrics.classifier.feature_dim` = {MAX_WIDTH + 1} is out of range",
             f"metrics.classifier.feature_dim={MAX_WIDTH + 1}")
    assert _study(f"metrics.classifier.feature_dim={MAX_WIDTH}").metrics.classifier.feature_dim == MAX_WIDTH
    assert _study("metrics.classifier.weight_decay=0").metrics.classifier.weight_decay == 0.0


@pytest.mark.parametrize("name", ["npz", "folder"])
def test_an_empty_data_path_is_refused(name: str) -> None:
    """`data.path: ""` for a file or folder data set is as missing as no path at all."""
    _refused("`data.path` is required when `data.name` is", f"data.name={name}", "data.path=''")


def test_mmd_bounds_at_their_edges() -> None:
    """`mmd.upper_bound` must lie strictly above `lower_bound`; `upper_bound_cap` may equal it and
    `bound_factor` may be 1 (a fixed bound)."""
    with pytest.raises(ConfigError, match=r"`mmd.upper_bound` = 0.25 is out of range.*above `mmd.lower_bound`"):
        _train("loss=mmd", "mmd.upper_bound=0.25")
    got = _train("loss=mmd", "mmd.upper_bound_cap=4.0", "mmd.bound_factor=1")
    assert got.mmd.upper_bound_cap == got.mmd.upper_bound == 4.0 and got.mmd.bound_factor == 1.0


def test_autogan_width_is_capped() -> None:
    """`autogan_df_dim` above MAX_WIDTH is refused up front (it would allocate without bound)."""
    with pytest.raises(ConfigError, match=f"`autogan_df_dim` = {MAX_WIDTH + 1} is out of range"):
        _train(f"autogan_df_dim={MAX_WIDTH + 1}")
    assert _train(f"autogan_df_dim={MAX_WIDTH}").autogan_df_dim == MAX_WIDTH


@pytest.mark.parametrize("key", ["sampler", "gen_stage", "disc_stage", "objectives", "caps"])
def test_a_search_config_given_to_train_is_named_with_the_fix(tmp_path, key: str) -> None:
    """Any top-level key only a search config has makes `optgan train --config` say where the file goes."""
    (tmp_path / "s.yaml").write_text(f"{key}: {{}}\n" if key != "objectives" else "objectives: [IS, FID]\n")
    with pytest.raises(ConfigError, match=f"looks like a search config \\(it has `{key}`\\).*optgan study create"):
        load_train_config(str(tmp_path / "s.yaml"))


@pytest.mark.parametrize("key", ["epochs", "gen_arch", "loss", "lr_g", "lr_d", "n_critic", "ema_decay"])
def test_a_training_recipe_given_to_study_create_is_named_with_the_fix(tmp_path, key: str) -> None:
    """Any top-level key only a training recipe has makes `optgan study create` say where the file goes."""
    (tmp_path / "t.yaml").write_text(f"{key}: 1\n")
    with pytest.raises(ConfigError, match=f"looks like a training recipe \\(it has `{key}`\\).*optgan train"):
        load_study_config(str(tmp_path / "t.yaml"))


def test_train_overrides_apply_with_and_without_a_file(tmp_path) -> None:
    """`optgan train --set` applies on top of the defaults and on top of a recipe file."""
    assert load_train_config(None, ["epochs=3", "mmd.patience=2"]).epochs == 3
    (tmp_path / "t.yaml").write_text("epochs: 7\nlr_g: 1.0e-3\n")
    got = load_train_config(str(tmp_path / "t.yaml"), ["lr_g=5e-4"])
    assert (got.epochs, got.lr_g) == (7, 5e-4)


def test_a_file_that_is_not_utf8_names_the_byte_and_the_fix(tmp_path) -> None:
    """A Latin-1 config is a one-line error naming the offending byte and saying to save it as UTF-8."""
    (tmp_path / "l.yaml").write_bytes(b"seed: 1\nrun_dir: caf\xe9\n")
    with pytest.raises(ConfigError) as e:
        load_yaml(str(tmp_path / "l.yaml"))
    assert "is not UTF-8 text (byte 20); save it as UTF-8" in str(e.value) and "\n" not in str(e.value)


def test_an_empty_file_is_an_empty_config(tmp_path) -> None:
    """An empty file (or one of comments only) loads as `{}`: every key at its default."""
    (tmp_path / "e.yaml").write_text("# nothing yet\n")
    assert load_yaml(str(tmp_path / "e.yaml")) == {}
    assert load_study_config(str(tmp_path / "e.yaml")) == study_config_from_dict({})


# ---------------------------------------------------------------------- bugs this round found


def test_a_partial_metrics_section_keeps_the_training_recipes_defaults() -> None:
    """A training recipe's `metrics:` defaults are not MetricsConfig's (IS, FID and KID on 50,000
    images, not IS and FID on 5,000): a recipe or a `--set metrics.K=V` that gives only some keys
    keeps the others' recipe defaults (before, `--set metrics.inception_weights=W` as the README
    shows silently dropped KID and scored 5,000 images)."""
    for overrides in ([], ["metrics.batch_size=100"], ["metrics.inception_weights=/w.pth"]):
        m = load_train_config(None, overrides).metrics
        assert (set(m.metrics), m.num_images) == ({"IS", "FID", "KID"}, 50_000), overrides
    assert load_train_config(None, ["metrics.batch_size=100"]).metrics.batch_size == 100
    assert load_train_config(None, ["metrics.metrics=[FID]"]).metrics.metrics == ("FID",)


def test_yaml_merge_keys_work_and_duplicates_beside_them_are_still_refused(tmp_path) -> None:
    """`<<: *base` (a YAML merge key) merges a mapping, the given keys winning; a key given twice
    next to it is still an error."""
    ok = tmp_path / "merge.yaml"
    ok.write_text("base: &b {x: 1, y: 2}\nsec: {<<: *b, y: 3}\n")
    assert load_yaml(str(ok))["sec"] == {"x": 1, "y": 3}
    bad = tmp_path / "dup.yaml"
    bad.write_text("base: &b {x: 1}\nsec: {<<: *b, y: 3, y: 4}\n")
    with pytest.raises(ConfigError, match="given twice"):
        load_yaml(str(bad))


def test_the_not_utf8_error_names_the_files_byte_offset_also_past_the_first_read(tmp_path) -> None:
    """The offending byte is counted from the file's start (a stream decoder counted it from the
    start of an 8 KiB chunk)."""
    path = tmp_path / "long.yaml"
    path.write_bytes(b"# " + b"x" * 20_007 + b"\n\xff: 1\n")
    with pytest.raises(ConfigError, match="byte 20010"):
        load_yaml(str(path))


def test_a_run_given_data_path_for_a_data_set_located_otherwise_says_how_to_locate_it() -> None:
    """`optgan run --set data.path=…` on a cifar10 search names `data.root`, not `data.name` (which
    a run may not change); on digits, that it reads no file."""
    from optgan.config.study import study_config_from_dict, with_machine_settings

    cifar = study_config_from_dict({"data": {"name": "cifar10"}})
    with pytest.raises(ConfigError, match=r"data set is 'cifar10'.*--set data.root=DIR") as e:
        with_machine_settings(cifar, ["data.path=/x/train.npz"])
    assert "data.name" not in str(e.value)
    with pytest.raises(ConfigError, match="reads no file"):
        with_machine_settings(study_config_from_dict({"data": {"name": "digits"}}), ["data.path=/x/train.npz"])
    npz = study_config_from_dict({"data": {"name": "npz", "path": "/a/train.npz"}})
    assert with_machine_settings(npz, ["data.path=/b/train.npz"]).data.path == "/b/train.npz"
