"""`optgan study extend` at the API level (`optgan.study.extend.extend_search`): what it refuses,
what it stores, and in which order (the CLI flow is in test_study_cli_synthetic.py)."""

from __future__ import annotations

import json
import pathlib

import pytest

from optgan import keys
from optgan.config.study import load_study_config
from optgan.errors import OptganError
from optgan.search_space import Genotype
from optgan.study.extend import extend_search
from optgan.study.search import load_search, stage_study_name
from optgan.study.create import create_search

ROOT = pathlib.Path(__file__).resolve().parents[2]
G_STAR = [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]]


@pytest.fixture
def search(tmp_path):
    config = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), ["gen_stage.rounds=3", "disc_stage.rounds=2"])
    return create_search("s", config, f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "run"))


def _fix_g_star(search) -> None:  # noqa: ANN001
    """As stage disc's first run does: G* stored on the disc study."""
    study_id = search.storage.get_study_id_from_name(stage_study_name("s", "disc"))
    search.storage.set_study_user_attr(study_id, keys.GEN_STAR, Genotype.from_array("gen", G_STAR).to_json_dict())
    search.storage.set_study_user_attr(study_id, keys.GEN_STAR_SOURCE, "trial 0 of s:gen")


def test_extend_stores_the_rounds_on_both_studies_and_in_the_search(search) -> None:
    assert extend_search(search, {"gen": 5, "disc": 4}) == {"gen": (3, 5), "disc": (2, 4)}
    assert (search.config.gen_stage.rounds, search.config.disc_stage.rounds) == (5, 4)
    for stage in ("gen", "disc"):
        attrs = search.storage.get_study_user_attrs(search.storage.get_study_id_from_name(stage_study_name("s", stage)))
        stored = json.loads(attrs[keys.CONFIG])
        assert (stored["gen_stage"]["rounds"], stored["disc_stage"]["rounds"]) == (5, 4)
    assert load_search("s", search.storage_url).config == search.config


def test_once_g_star_is_fixed_stage_gen_may_be_named_but_not_changed(search) -> None:
    """`--gen-rounds` equal to the current count changes nothing, so it is no refusal (a script
    that always passes both flags); another count is refused."""
    _fix_g_star(search)
    assert extend_search(search, {"gen": 3, "disc": 5}) == {"gen": (3, 3), "disc": (2, 5)}
    with pytest.raises(OptganError, match=r"already runs with G\* = trial 0 of s:gen"):
        extend_search(search, {"gen": 4})
    assert load_search("s", search.storage_url).config.gen_stage.rounds == 3


def test_a_failed_write_leaves_the_config_load_search_reads_unchanged(search, monkeypatch) -> None:
    """Stage gen's copy (the one `load_search` reads) is written last: a database that fails
    between the two writes leaves the search as it was, not half extended."""
    storage = search.storage
    real_set, writes = storage.set_study_user_attr, []

    def fail_on_the_second_write(study_id, key, value):  # noqa: ANN001, ANN202
        writes.append(study_id)
        if len(writes) == 2:
            raise RuntimeError("database gone")
        return real_set(study_id, key, value)

    monkeypatch.setattr(storage, "set_study_user_attr", fail_on_the_second_write)
    with pytest.raises(RuntimeError, match="database gone"):
        extend_search(search, {"gen": 6})
    monkeypatch.undo()
    assert load_search("s", search.storage_url).config.gen_stage.rounds == 3
