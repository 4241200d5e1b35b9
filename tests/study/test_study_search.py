"""What `create_search` stores and how it claims its run directory (`optgan.study.search`)."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from optgan import keys
from optgan.config.study import load_study_config
from optgan.errors import StorageError
from optgan.study.run_dir_claim import RUN_DIR_OWNER, claim_run_dir
from optgan.study.search import stage_study_name
from optgan.study.create import create_search

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_both_stage_studies_name_the_search_and_each_other(tmp_path) -> None:
    config = load_study_config(str(ROOT / "studies" / "dry-run.yaml"))
    search = create_search("s", config, f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "run"))
    stored = [search.storage.get_study_user_attrs(search.storage.get_study_id_from_name(stage_study_name("s", st)))
              for st in ("gen", "disc")]
    for stage, other, attrs in (("gen", "disc", stored[0]), ("disc", "gen", stored[1])):
        assert attrs[keys.SEARCH_NAME] == "s" and attrs[keys.STAGE] == stage
        assert attrs[keys.LINKED_STUDY] == f"s:{other}"
        assert attrs[keys.RUN_DIR] == str(tmp_path / "run") and attrs[keys.SEARCH_ID] == search.search_id
    assert stored[0][keys.CONFIG] == stored[1][keys.CONFIG]
    owner = json.loads((tmp_path / "run" / RUN_DIR_OWNER).read_text())
    assert owner["id"] == search.search_id and owner["search"] == "s"


def test_a_run_directory_is_claimed_exclusively_and_durably(tmp_path, monkeypatch) -> None:
    """`search.json` is created exclusively (of two searches claiming one folder, the second is
    refused, never overwrites the first's claim) and synced before the search is stored."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.isdir("/proc/self/fd") else str(fd))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = claim_run_dir(tmp_path, "a", url)
    assert synced and (not os.path.isdir("/proc/self/fd") or synced[-1] == str(tmp_path / RUN_DIR_OWNER))
    with pytest.raises(StorageError, match="was just taken by another search"):
        claim_run_dir(tmp_path, "b", url)
    assert json.loads((tmp_path / RUN_DIR_OWNER).read_text())["id"] == first


def test_a_search_name_is_at_most_100_characters() -> None:
    from optgan.study.search import check_search_name

    check_search_name("a" * 100)
    with pytest.raises(StorageError, match="must be 1-100 letters"):
        check_search_name("a" * 101)


def test_a_run_dir_given_to_create_beats_the_configs(tmp_path) -> None:
    config = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), [f"run_dir={tmp_path / 'from-config'}"])
    search = create_search("s", config, f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "given"))
    assert search.run_dir == tmp_path / "given" and (tmp_path / "given" / RUN_DIR_OWNER).is_file()
    assert not (tmp_path / "from-config").exists()


def test_the_list_skips_a_study_whose_create_was_cut_short(tmp_path) -> None:
    """`study create` names the search on a stage study before its stage: a create cut short
    between the two leaves a study the list must pass over, not fail on."""
    import optuna

    from optgan.study.listing import list_searches

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    create_search("s", load_study_config(str(ROOT / "studies" / "dry-run.yaml")), url, str(tmp_path / "run"))
    optuna.create_study(study_name="half:gen", storage=url).set_user_attr(keys.SEARCH_NAME, "half")
    assert [row["name"] for row in list_searches(url)] == ["s"]


def test_no_search_named_lists_a_small_storage_and_points_into_a_large_one(tmp_path) -> None:
    """"no search named …" names every search of a small storage; in a team's storage of hundreds
    it says how many there are and the names closest to the one asked for, in one short line."""
    import optuna

    from optgan.study.search import KNOWN_SEARCHES_LISTED, load_search

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    def refusal(name: str) -> str:
        with pytest.raises(StorageError) as e:
            load_search(name, url)
        return str(e.value)

    optuna.create_study(storage=url, study_name="not-a-search")  # made outside optgan: not named
    assert refusal("x").endswith("; create one with `optgan study create`")
    for name in ("b", "a"):
        optuna.create_study(storage=url, study_name=f"{name}:gen")
    assert refusal("x") == f"no search named 'x' in {url}; known searches: a, b"
    many = [f"cifar-seed{i}" for i in range(KNOWN_SEARCHES_LISTED)] + ["stl-a"]
    for k, name in enumerate(many):
        optuna.create_study(storage=url, study_name=f"{name}:gen")
        if k + 3 == KNOWN_SEARCHES_LISTED:  # every one of them still listed
            assert refusal("x").endswith(f"; known searches: a, b, {', '.join(sorted(many[:k + 1]))}")
    close = refusal("cifar-sed3")
    assert close.startswith(f"no search named 'cifar-sed3' in {url}; {len(many) + 2} searches there (`optgan "
                            "study list` lists them), the closest: cifar-seed3, ")
    assert len(close.split("the closest: ")[1].split(", ")) == 3 and "stl-a" not in close  # three names at most
    assert refusal("zzzz").endswith(f"; {len(many) + 2} searches there (`optgan study list` lists them)")
