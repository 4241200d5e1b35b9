"""The parts of `optgan dashboard` that run without serving."""

from __future__ import annotations

import pytest

from optgan_cli.dashboard_cmd import _check_can_listen, _MissingAs404


def test_port_0_is_a_free_port_picked_before_serving() -> None:
    port = _check_can_listen("127.0.0.1", 0)
    assert 0 < port <= 65535


def test_a_missing_picture_is_a_404_said_once_in_the_console(capsys) -> None:
    from bottle import HTTPError
    from optuna.artifacts.exceptions import ArtifactNotFound

    class Store:
        def open_reader(self, artifact_id: str) -> object:
            if artifact_id == "here":
                return "reader"
            raise ArtifactNotFound(artifact_id)

        def remove(self, artifact_id: str) -> str:
            return f"removed {artifact_id}"

    store = _MissingAs404(Store())
    assert store.open_reader("here") == "reader" and store.remove("a") == "removed a"
    for missing in ("gone-1", "gone-2"):
        with pytest.raises(HTTPError) as e:
            store.open_reader(missing)
        assert e.value.status_code == 404
    err = capsys.readouterr().err
    assert err.count("warning: artifact") == 1 and "gone-1 (and maybe more) is in no run directory here" in err


def test_bad_storages_and_run_directories_are_refused_before_serving(tmp_path, monkeypatch) -> None:
    import optuna_dashboard
    from click.testing import CliRunner

    from optgan_cli.main import main

    def served(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("served")

    monkeypatch.setattr(optuna_dashboard, "run_server", served)
    missing = tmp_path / "missing.db"
    r = CliRunner().invoke(main, ["dashboard", "--port", "0", "--storage", f"sqlite:///{missing}"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and not missing.exists(), r.output
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    dry = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "studies" / "dry-run.yaml")
    assert CliRunner().invoke(main, ["study", "create", "a", "--config", dry, "--run-dir", str(tmp_path / "run"),
                                     "--storage", storage]).exit_code == 0
    r = CliRunner().invoke(main, ["dashboard", "--port", "0", "--run-dir", str(tmp_path / "nope"), "--storage", storage])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "served" not in r.output, r.output
