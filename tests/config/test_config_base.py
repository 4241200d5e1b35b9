"""The strict config loader: unknown keys, wrong types, Literals, ranges, overrides, YAML errors."""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass, field
from typing import Literal

import pytest

from optgan.config.base import check_range, from_dict, to_dict
from optgan.config.yaml_input import apply_overrides, load_yaml
from optgan.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Inner:
    size: int = 3
    rate: float = 0.5
    mode: Literal["a", "b"] = "a"

    def __post_init__(self) -> None:
        check_range("inner.rate", self.rate, low=0, high=1)


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    pair: tuple[float | None, float | None] | None = None
    tags: tuple[str, ...] = ()
    flag: bool = False


def test_round_trip_and_defaults() -> None:
    cfg = from_dict(Outer, {"name": "x", "inner": {"size": 4}, "pair": [1, None], "tags": ["a"]})
    assert cfg == Outer("x", Inner(size=4), (1.0, None), ("a",))
    assert from_dict(Outer, to_dict(cfg)) == cfg


def test_an_empty_or_null_section_means_its_defaults(tmp_path) -> None:
    assert from_dict(Outer, {"name": "x", "inner": None}) == from_dict(Outer, {"name": "x", "inner": {}}) == Outer("x")
    from optgan.config.study import load_study_config
    from optgan.search_space.widths import Widths

    path = tmp_path / "s.yaml"
    path.write_text("widths:\n  # gf_dim: 64\nseed: 3\n")  # a section whose keys are all commented out
    assert load_study_config(str(path)).widths == Widths()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "inner": {"sise": 4}}, "unknown key `inner.sise` in `inner`; allowed keys: mode, rate, size"),
        ({"name": "x", "inner": {"size": "4"}}, "`inner.size` must be an integer, got '4'"),
        ({"name": "x", "inner": {"mode": "c"}}, "`inner.mode` = 'c' is not allowed; allowed values: 'a', 'b'"),
        ({"name": "x", "inner": {"rate": 2}}, "`inner.rate` = 2.0 is out of range; allowed: [0, 1]"),
        ({"name": "x", "flag": "yes"}, "`flag` must be true or false, got 'yes'"),
        ({"name": "x", "pair": [1, 2, 3]}, "`pair` must have 2 elements, got 3"),
        ({"inner": {}}, "missing required key `name`"),
        ({"name": "x", "inner": [1]}, "`inner` must be a mapping, got list"),
    ],
)
def test_errors_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(Outer, data)
    assert str(info.value) == message


def test_yaml_scientific_notation_string_is_a_float() -> None:
    assert from_dict(Inner, {"rate": "1e-4"}).rate == 1e-4


def test_overrides() -> None:
    data = {"name": "x", "inner": {"size": 1}}
    out = apply_overrides(data, ["inner.size=5", "inner.mode=b", "tags=[p, q]"])
    assert out == {"name": "x", "inner": {"size": 5, "mode": "b"}, "tags": ["p", "q"]}
    assert data["inner"]["size"] == 1  # input untouched
    with pytest.raises(ConfigError, match="must look like `key.path=value`"):
        apply_overrides(data, ["inner.size"])
    with pytest.raises(ConfigError, match="`name` is not a section"):
        apply_overrides(data, ["name.x=1"])


def test_load_yaml_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_yaml(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"is not valid YAML \(line"):
        load_yaml(str(bad))
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n")
    with pytest.raises(ConfigError, match="must contain a mapping"):
        load_yaml(str(lst))


def test_yaml_aliases_that_multiply_are_refused_but_ordinary_anchors_load(tmp_path) -> None:
    lines = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 values
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="expands to more than 100,000 values"):
        load_yaml(str(bomb))
    for text in ("a: &a [*a]\n", "sampler: &s {x: *s}\n", "a: &a [1, [2, *a]]\n"):  # an alias inside its anchor
        (tmp_path / "cycle.yaml").write_text(text)
        with pytest.raises(ConfigError, match="has a YAML alias that refers to itself"):
            load_yaml(str(tmp_path / "cycle.yaml"))
    fine = tmp_path / "fine.yaml"  # anchors reused a few times are ordinary YAML
    fine.write_text("base: &b {epochs: 1, rounds: 2}\ngen_stage: *b\ndisc_stage: *b\nlist: &l [1, 2]\nother: *l\n")
    assert load_yaml(str(fine))["disc_stage"] == {"epochs": 1, "rounds": 2}


def test_overrides_that_nest_too_deeply_are_one_line() -> None:
    with pytest.raises(ConfigError, match="value nests too deeply"):
        apply_overrides({}, ["seed=" + "[" * 3000 + "]" * 3000])


def test_a_bound_set_by_another_key_is_named() -> None:
    """Lowering `metrics.num_images` alone trips `kid_subset_size`: the message says why."""
    from optgan.config.metrics import MetricsConfig

    with pytest.raises(ConfigError) as e:
        MetricsConfig(metrics=("FID", "KID"), num_images=100, kid_subset_size=1000)
    assert str(e.value) == ("`metrics.kid_subset_size` = 1000 is out of range; allowed: [2, 100] "
                            "(at most `metrics.num_images` = 100: lower it too)")
    with pytest.raises(ConfigError) as e:  # the other bound crossed: no note about num_images
        MetricsConfig(metrics=("FID", "KID"), num_images=100, kid_subset_size=1)
    assert str(e.value) == "`metrics.kid_subset_size` = 1 is out of range; allowed: [2, 100]"


@pytest.mark.parametrize(("overrides", "needle"), [
    (["seed=1" + "0" * 5000], "the value cannot be read (Exceeds the limit"),
    (["seed=0x" + "f" * 4000], "`seed` = an integer of 16000 bits is out of range; allowed: |value| < 2**63"),
    (["widths.gf_dim=1.0e+30"], "`widths.gf_dim` = an integer of 100 bits is out of range"),
    (["widths.bottom_width=1000"], "`widths.bottom_width` = 1000 is out of range; allowed: [1, 64]"),
    (["widths.gf_dim=100000"], "`widths.gf_dim` = 100000 is out of range; allowed: [1, 16384]"),
    (['run_dir="/tmp/a\\0b"'], "`run_dir` contains a NUL character"),
    (["metrics.seed=-1"], "`metrics.seed` = -1 is out of range; allowed: [0, 4294967295]"),
    (["metrics.classifier.width=100000"], "`metrics.classifier.width` = 100000 is out of range"),
])
def test_values_that_would_fail_much_later_are_refused_up_front(overrides: list[str], needle: str) -> None:
    """Found by fuzzing: each used to pass validation and end in a traceback (or terabytes of
    allocation) at training time."""
    from optgan.config.study import load_study_config

    with pytest.raises(ConfigError) as e:
        load_study_config(str(ROOT / "studies" / "quickstart.yaml"), overrides)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_yaml_files_with_list_keys_huge_numbers_or_pipes_are_one_line(tmp_path) -> None:
    (tmp_path / "k.yaml").write_text("? [a, b]\n: 1\n")
    with pytest.raises(ConfigError, match="found a list or mapping used as a key"):
        load_yaml(str(tmp_path / "k.yaml"))
    (tmp_path / "n.yaml").write_text("seed: 1" + "0" * 5000 + "\n")
    with pytest.raises(ConfigError, match="holds a value YAML cannot read"):
        load_yaml(str(tmp_path / "n.yaml"))
    os.mkfifo(tmp_path / "f.yaml")  # reading it would wait forever for a writer
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_yaml(str(tmp_path / "f.yaml"))


def test_control_characters_in_a_key_do_not_break_the_line() -> None:
    with pytest.raises(ConfigError) as e:
        from_dict(Inner, {"a\nb": 1})
    assert "unknown key `a\\nb`" in str(e.value) and "\n" not in str(e.value)


def test_a_character_yaml_refuses_is_named_with_its_position(tmp_path) -> None:
    (tmp_path / "nul.yaml").write_bytes(b"seed: 0\x00\n")
    with pytest.raises(ConfigError, match=r"is not valid YAML \(character 8\): special characters are not allowed '\\x00'"):
        load_yaml(str(tmp_path / "nul.yaml"))


def test_durations_from_the_environment(monkeypatch) -> None:
    """`$OPTGAN_LEASE_TTL_S` & co: the minimum itself is allowed; less, or no finite number, is a
    one-line error naming the variable; unset or empty means the default."""
    from optgan.config.base import env_seconds

    monkeypatch.delenv("OPTGAN_TEST_S", raising=False)
    assert env_seconds("OPTGAN_TEST_S", 60.0, minimum=1.0) == 60.0
    for text, value in (("", 60.0), (" 1 ", 1.0), ("2.5", 2.5)):
        monkeypatch.setenv("OPTGAN_TEST_S", text)
        assert env_seconds("OPTGAN_TEST_S", 60.0, minimum=1.0) == value
    monkeypatch.setenv("OPTGAN_TEST_S", "0")
    assert env_seconds("OPTGAN_TEST_S", 120.0, minimum=0.0) == 0.0  # e.g. no storage retries at all
    for text in ("0.5", "-3", "inf", "nan", "soon"):
        monkeypatch.setenv("OPTGAN_TEST_S", text)
        with pytest.raises(ConfigError, match=r"\$OPTGAN_TEST_S = .* must be a number of seconds ≥ 1"):
            env_seconds("OPTGAN_TEST_S", 60.0, minimum=1.0)


@pytest.mark.parametrize("name", ["cpu", "auto", "cuda", "cuda:0", "cuda:12"])
def test_device_names_that_are_allowed(name: str) -> None:
    from optgan.config.base import check_device_name

    check_device_name(name)


@pytest.mark.parametrize("name", ["cpux", "cuda:", "cuda:1x", "auto ", "mps", "cuda:-1", ""])
def test_device_names_that_are_refused_whole(name: str) -> None:
    from optgan.config.base import check_device_name

    with pytest.raises(ConfigError, match="allowed: auto, cpu, cuda, cuda:N"):
        check_device_name(name)


def test_an_integer_written_as_a_float_is_an_integer_and_a_fraction_is_refused() -> None:
    got = from_dict(Inner, {"size": 4.0}).size
    assert got == 4 and type(got) is int
    with pytest.raises(ConfigError, match=r"`size` must be an integer, got 4.5"):
        from_dict(Inner, {"size": 4.5})
    with pytest.raises(ConfigError, match=r"`size` = an integer of 64 bits is out of range"):
        from_dict(Inner, {"size": 2**63})
    assert from_dict(Inner, {"size": 2**63 - 1}).size == 2**63 - 1


def test_a_bool_setting_takes_only_true_or_false() -> None:
    for value in (1, 0, "true"):
        with pytest.raises(ConfigError, match=f"`flag` must be true or false, got {value!r}"):
            from_dict(Outer, {"name": "x", "flag": value})


def test_the_alias_expansion_limit_is_100000_values(tmp_path) -> None:
    """Not only a bomb: a config just past the limit is refused, one just below it loads."""
    ten_thousand = "a: &a [" + ", ".join(["0"] * 999) + "]\nb: &b [" + ", ".join(["*a"] * 10) + "]\n"
    for copies, refused in ((8, False), (11, True)):  # ≈ 91,000 and 121,000 values in all
        path = tmp_path / f"c{copies}.yaml"
        path.write_text(ten_thousand + "c: [" + ", ".join(["*b"] * copies) + "]\n")
        if refused:
            with pytest.raises(ConfigError, match="expands to more than 100,000 values"):
                load_yaml(str(path))
        else:
            assert len(load_yaml(str(path))["c"]) == copies


@pytest.mark.parametrize("item", ["a..b=1", ".a=1", "a.=1", " . =1"])
def test_an_override_key_with_an_empty_part_is_refused(item: str) -> None:
    with pytest.raises(ConfigError, match="empty"):
        apply_overrides({}, [item])


def test_flatten_keeps_empty_sections_as_leaves() -> None:
    from optgan.config.base import flatten

    assert flatten({"a": {}, "b": {"c": 1, "d": {"e": [1]}}}) == {"a": {}, "b.c": 1, "b.d.e": [1]}
