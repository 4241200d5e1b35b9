"""What `optgan report` hands on (the report itself stubbed out; written for real in tests/study)."""

from __future__ import annotations

import pathlib
import types

from click.testing import CliRunner

from optgan_cli.main import main


def test_report_hands_on_its_run_directory_and_stages(tmp_path, monkeypatch) -> None:
    import optgan.study.report
    import optgan.study.search

    read: list[str] = []
    search = types.SimpleNamespace(run_dir=pathlib.Path(tmp_path / "elsewhere"), read_run_dir=read.append)
    written: list[list[str]] = []

    def write_report(s, output, stages):  # noqa: ANN001, ANN202
        assert s is search
        written.append(list(stages))
        return str(pathlib.Path(output) / "index.html")

    monkeypatch.setattr(optgan.study.search, "load_search", lambda name, storage: search)
    monkeypatch.setattr(optgan.study.report, "write_report", write_report)

    def report(*args: str):
        r = CliRunner().invoke(main, ["report", "x", "-o", str(tmp_path / "rep"), *args], catch_exceptions=False)
        assert r.exit_code == 0, r.stderr
        return r

    r = report()
    assert written[-1] == ["gen", "disc"] and read == []
    assert r.stderr.startswith(f"warning: run directory {tmp_path / 'elsewhere'} of 'x' is not here")
    assert r.stdout == f"report: {tmp_path / 'rep' / 'index.html'}\n"
    r = report("--stage", "disc", "--run-dir", str(tmp_path / "mnt"))
    assert written[-1] == ["disc"] and read == [str(tmp_path / "mnt")] and r.stderr == ""
    (tmp_path / "elsewhere").mkdir()
    assert report().stderr == ""
