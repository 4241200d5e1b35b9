"""Mutation round 19: progress bars, round timings, preflight, storage URLs and G* choice.

Each test pins a behaviour a hand-made mutant of `optgan.progress`, `optgan.study.round_timing`,
`optgan.study.preflight`, `optgan.study.storage_url` or `optgan.study.gen_star` changed without
any earlier test noticing.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import types

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from optgan import keys
from optgan.config.study import load_study_config
from optgan.errors import OptganError, StorageError
from optgan.search_space import Genotype
from optgan.search_space.random import random_genotype
from optgan.study.gen_star import GenChoice, fix_gen_star, resolve_gen_override
from optgan.study.preflight import preflight
from optgan.study.round_timing import RoundTimer, round_seconds
from optgan.study.storage_url import (
    default_run_root,
    parse_storage_url,
    redact,
    resolve_storage_url,
    scrub_passwords,
    url_passwords,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
DRY = str(ROOT / "studies" / "dry-run.yaml")
QUICK = str(ROOT / "studies" / "quickstart.yaml")

optuna.logging.set_verbosity(optuna.logging.WARNING)


# ---------------------------------------------------------------------- progress


def test_a_freshly_imported_progress_module_shows_bars_outside_terminals_too() -> None:
    """Library users keep tqdm's default: until the command line opts in, `show=True` draws a bar
    even when stderr is no terminal (a notebook)."""
    spec = importlib.util.spec_from_file_location("_fresh_progress", ROOT / "optgan" / "progress.py")
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    assert fresh._terminal_only is False
    assert fresh.bars_shown(True) is True


# ---------------------------------------------------------------------- round timing


def test_describe_gives_the_total_and_each_phase_to_a_tenth_of_a_second() -> None:
    """`describe()` is exactly `total s (phase secs, ...)` with one decimal each, in phase order."""
    timer = RoundTimer()
    timer.seconds = {"train": 10.14, "evaluate": 1.96}
    assert timer.describe() == "12.1 s (train 10.1, evaluate 2.0)"


def test_round_seconds_skips_entries_that_are_not_phase_records() -> None:
    """A user attr under the round-seconds prefix that is not a dict (a foreign or broken value)
    is skipped, not read as a round."""
    study = optuna.create_study()
    study.set_user_attr(keys.ROUND_SECONDS_PREFIX + "1", {"train": 1.0, "total": 1.0})
    study.set_user_attr(keys.ROUND_SECONDS_PREFIX + "2", 3.5)
    assert round_seconds(study) == {1: {"train": 1.0, "total": 1.0}}


# ---------------------------------------------------------------------- preflight


def test_preflight_checks_the_disc_caps_when_the_gen_caps_are_empty() -> None:
    """Empty generator caps skip only the generator: caps of the discriminator that admit nothing
    still fail before anything is created."""
    cfg = load_study_config(DRY, ["caps.gen={}", "caps.disc={params_M: [null, 0.001]}"])
    with pytest.raises(OptganError, match=r"the disc search space \(architecture 1 of a first generation"):
        preflight(cfg)


def test_preflight_needs_a_whole_first_generation_of_distinct_architectures() -> None:
    """Caps admitting a single architecture cannot seed a population of two: the second (distinct)
    architecture is what fails."""
    cfg = load_study_config(DRY, ["caps.gen={params_M: [6.6, 6.75]}", "sampler.population_size=2"])
    with pytest.raises(OptganError, match=r"architecture 2 of a first generation of 2\)"):
        preflight(cfg)


def test_preflight_first_generation_architectures_must_be_distinct(monkeypatch) -> None:
    """Every architecture of the trial first generation is new: a space that only ever draws one
    architecture cannot fill a population of two (the second draw is a duplicate each time)."""
    import optgan.study.preflight as pf

    same = {net: random_genotype(net, np.random.default_rng(0)) for net in ("gen", "disc")}
    monkeypatch.setattr(pf, "random_genotype", lambda net, rng: same[net])
    cfg = load_study_config(DRY, ["caps.gen={params_M: [null, 1000]}", "sampler.population_size=2",
                                  "sampler.max_tries=20"])
    with pytest.raises(OptganError, match=r"architecture 2 of a first generation of 2\) after 20 draws .*"
                                          r"0 violated them, 20 were duplicates"):
        preflight(cfg)


def test_preflight_draws_are_seeded_by_the_config(monkeypatch) -> None:
    """The first-generation check draws from `config.seed`: two preflights of one config draw the
    same architectures (so `study create` accepts or refuses a set-up reproducibly)."""
    import optgan.study.preflight as pf

    drawn: list[Genotype] = []

    def spy(net: str, rng: np.random.Generator) -> Genotype:
        drawn.append(random_genotype(net, rng))
        return drawn[-1]

    monkeypatch.setattr(pf, "random_genotype", spy)
    cfg = load_study_config(DRY, ["caps.gen={params_M: [null, 1000]}", "sampler.population_size=4"])
    preflight(cfg)
    first, drawn[:] = list(drawn), []
    preflight(cfg)
    assert len(first) >= 4 and drawn == first


@pytest.fixture(scope="module")
def labelled_npz(tmp_path_factory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("npz")
    np.savez(folder / "d.npz", images=np.zeros((40, 16, 16, 3), np.uint8), labels=np.arange(40) % 2)
    return folder


def _real(folder: pathlib.Path, *extra: str):  # noqa: ANN202 - StudyConfig
    return load_study_config(QUICK, [f"data={{name: npz, path: {folder / 'd.npz'}}}", "metrics.num_images=40",
                                     f"metrics.cache_dir={folder / 'cache'}", *extra])


def test_preflight_returns_the_images_a_real_search_trains_on(labelled_npz: pathlib.Path) -> None:
    """A real search's preflight hands back the loaded data set (recorded with the new search)."""
    images = preflight(_real(labelled_npz))
    assert images is not None and len(images) == 40


def test_preflight_checks_the_disc_stage_batch_size_too(labelled_npz: pathlib.Path) -> None:
    """A stage-disc batch larger than the data set is refused by name, even when stage gen's fits."""
    with pytest.raises(OptganError, match=r"`disc_stage.batch_size_d` = 64 must be between 1 and the number "
                                          r"of images \(40\)"):
        preflight(_real(labelled_npz, "disc_stage.batch_size_d=64"))


def test_preflight_refuses_a_metrics_cache_folder_that_is_a_file(labelled_npz: pathlib.Path) -> None:
    """A cache folder that cannot be created (a file stands there) fails before any data loads."""
    blocker = labelled_npz / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(OptganError, match=r"metrics cache folder .*set `metrics.cache_dir` to a writable folder"):
        preflight(_real(labelled_npz, f"metrics.cache_dir={blocker}"))


# ---------------------------------------------------------------------- storage URLs


def test_the_default_storage_is_optgan_db_in_the_working_folder(monkeypatch) -> None:
    """Without `--storage` or `$OPTGAN_STORAGE`, the storage is `sqlite:///optgan.db` (documented)."""
    monkeypatch.delenv("OPTGAN_STORAGE", raising=False)
    assert resolve_storage_url(None) == "sqlite:///optgan.db"


def test_a_password_given_as_a_query_parameter_is_redacted() -> None:
    """`?password=` is hidden as well as `user:PASSWORD@`."""
    shown = redact("postgresql://u@h/db?password=qsecret")
    assert "qsecret" not in shown and shown == "postgresql://u@h/db?password=***"


def test_url_passwords_finds_every_password_of_a_url() -> None:
    """The user-part password and each `password` query value (repeated ones too), in order."""
    assert url_passwords("postgresql://u:a1@h/db?password=b2&password=c3") == ["a1", "b2", "c3"]
    assert url_passwords("postgresql://u@h/db?password=only") == ["only"]
    assert url_passwords("postgresql://u@h/db") == []


def test_a_short_password_is_not_scrubbed_out_of_a_longer_word() -> None:
    """A password that begins a longer name (`db` in `dbhost`) is left there: only whole values go."""
    assert scrub_passwords("could not connect to host=dbhost", "postgresql://u:db@dbhost/x") == \
        "could not connect to host=dbhost"


def test_every_occurrence_of_a_password_is_scrubbed() -> None:
    """A password said twice in one message (same form) is hidden both times."""
    said = "auth failed for u:pw@h; retry with password=pw failed"
    assert scrub_passwords(said, "postgresql://u:pw@h/db") == "auth failed for u:***@h; retry with password=*** failed"


def test_a_relative_sqlite_file_gets_an_absolute_run_root(tmp_path, monkeypatch) -> None:
    """`sqlite:///rel.db`: run directories go next to the file, as an absolute path (stored with the
    search, so it must not depend on a later working folder)."""
    monkeypatch.chdir(tmp_path)
    root = default_run_root("sqlite:///sub/rel.db")
    assert root.is_absolute() and root == tmp_path.resolve() / "sub" / "optgan-runs"


@pytest.mark.parametrize(("url", "needle"), [
    ("mysql://u:topsecret@h/db", "storage back end 'mysql' of 'mysql://u:***@h/db' is not supported"),
    ("nosuch://u:topsecret@h/db", "storage back end 'nosuch' of 'nosuch://u:***@h/db' is not supported"),
    ("postgresql://u:topsecret@h:notaport/db", "storage URL 'h:notaport/db' is not a database URL"),
    ("sqlite://u:topsecret@/x.db?mode=ro", "storage URL 'sqlite://u:***@/x.db?mode=ro': SQLite URLs take no options (mode)"),
])
def test_storage_url_errors_never_show_the_password(url: str, needle: str) -> None:
    """Only SQLite and PostgreSQL URLs are accepted, and every refusal shows the URL redacted."""
    with pytest.raises(StorageError) as e:
        parse_storage_url(url)
    assert needle in str(e.value) and "topsecret" not in str(e.value)


# ---------------------------------------------------------------------- G*


def _gen_study(size: int = 4) -> optuna.Study:
    """A stage-gen study of one round of `size` trials, each with a distinct architecture."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"], study_name="s:gen")
    for s in range(size):
        params = random_genotype("gen", np.random.default_rng(s)).to_params()
        study.add_trial(create_trial(state=TrialState.COMPLETE, values=[10.0 + s, 20.0 + s, 1.0], params=params,
                                     distributions={k: optuna.distributions.CategoricalDistribution([v])
                                                    for k, v in params.items()}))
    return study


def _search(gen: optuna.Study):  # noqa: ANN202 - a stand-in Search
    cfg = load_study_config(DRY, ["sampler.population_size=4", "gen_stage.rounds=1", "caps.gen={}"])
    return types.SimpleNamespace(name="s", config=cfg, study=lambda stage: gen)


def test_a_plain_genotype_override_is_stored_as_a_user_override() -> None:
    """`fix_gen_star` given a bare Genotype stores the source `user override`."""
    gen = _gen_study()
    disc = optuna.create_study()
    chosen = Genotype.from_params("gen", gen.trials[1].params)
    assert fix_gen_star(_search(gen), disc, chosen) == chosen
    assert disc.user_attrs[keys.GEN_STAR_SOURCE] == "user override"
    assert GenChoice(chosen).source == "user override"


def test_gen_trial_zero_is_a_choice_not_the_default_rule() -> None:
    """`--gen-trial 0` picks trial 0 (0 is a trial number, not "no choice")."""
    gen = _gen_study()
    choice = resolve_gen_override(_search(gen), 0, None)
    assert choice is not None and choice.genotype == Genotype.from_params("gen", gen.trials[0].params)
    assert choice.source == "trial 0 of s:gen (--gen-trial)"


def test_a_missing_gen_trial_of_a_one_trial_study_names_trial_zero() -> None:
    """With a single trial in stage gen, a wrong `--gen-trial` says it has trials 0..0 (not "no trials")."""
    gen = _gen_study(size=1)
    with pytest.raises(OptganError, match=r"--gen-trial 5: no such trial in study s:gen \(it has trials 0\.\.0\)"):
        resolve_gen_override(_search(gen), 5, None)


def test_gen_arch_source_names_the_file(tmp_path) -> None:
    """`--gen-arch FILE` gives the file's architecture with the source naming that file."""
    gen = _gen_study()
    star = Genotype.from_params("gen", gen.trials[2].params)
    path = tmp_path / "g.json"
    path.write_text(json.dumps(star.to_json_dict()))
    choice = resolve_gen_override(_search(gen), None, str(path))
    assert choice.genotype == star and choice.source == f"user override (--gen-arch {path})"
