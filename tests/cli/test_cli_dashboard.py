"""The parts of `optgan dashboard` that run without serving."""

from __future__ import annotations

import pytest

from optgan.errors import OptganError
from optgan_cli.dashboard_cmd import _listen, _MissingAs404


def test_port_0_is_the_listening_servers_own_port_not_one_picked_before() -> None:
    """The server is bound before its URL is printed: no other process can take the port printed
    between a probe and the server's bind (the old way), and a port in use is one line."""
    import socket

    server = _listen("127.0.0.1", 0)
    try:
        port = server.server_port
        assert 0 < port <= 65535
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # already accepting connections
            pass
        with pytest.raises(OptganError, match=f"cannot serve the dashboard on 127.0.0.1:{port}: .*pick another --port"):
            _listen("127.0.0.1", port)
    finally:
        server.server_close()


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

    from optgan_cli import dashboard_cmd

    def served(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("served")

    monkeypatch.setattr(optuna_dashboard, "wsgi", served)
    monkeypatch.setattr(dashboard_cmd, "_serve", served)
    missing = tmp_path / "missing.db"
    r = CliRunner().invoke(main, ["dashboard", "--port", "0", "--storage", f"sqlite:///{missing}"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and not missing.exists(), r.output
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    dry = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "studies" / "dry-run.yaml")
    assert CliRunner().invoke(main, ["study", "create", "a", "--config", dry, "--run-dir", str(tmp_path / "run"),
                                     "--storage", storage]).exit_code == 0
    r = CliRunner().invoke(main, ["dashboard", "--port", "0", "--run-dir", str(tmp_path / "nope"), "--storage", storage])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "served" not in r.output, r.output


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_stop_ends_the_server_with_exit_0(tmp_path, signum: str) -> None:
    """Ctrl-C or SIGTERM is how a server is meant to end: exit 0, no error line; it served until then."""
    import queue
    import re
    import signal
    import subprocess
    import sys
    import threading
    import time
    import urllib.request

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    from optgan.study.storage import open_storage

    open_storage(url).engine.dispose()
    proc = subprocess.Popen([sys.executable, "-m", "optgan_cli", "dashboard", "--port", "0", "--storage", url],
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    try:
        # read on a thread: a banner that went elsewhere fails the test instead of blocking it
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(proc.stderr.readline()), daemon=True).start()  # type: ignore[union-attr]
        try:
            printed = lines.get(timeout=120)
        except queue.Empty:
            pytest.fail("the dashboard printed no banner on stderr within 120 s")
        port = re.search(r"at http://127\.0\.0\.1:(\d+)/", printed)
        assert port, printed
        deadline = time.monotonic() + 60
        while True:  # the port printed is served
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/api/studies", timeout=5) as r:  # noqa: S310
                    assert r.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        proc.send_signal(getattr(signal, signum))
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0 and "error" not in err, (proc.returncode, err)


def test_a_stop_that_lands_inside_a_request_ends_the_server(capsys) -> None:
    """wsgiref's request handler catches everything a request raises, prints it and serves on: a
    Ctrl-C landing while a response is written was lost (the dashboard hung on until a second one).
    The stop now leaves `serve_forever`, with no traceback printed."""
    import threading
    import urllib.request

    server = _listen("127.0.0.1", 0)

    def app(environ: dict, start_response: object) -> list[bytes]:
        raise KeyboardInterrupt  # the signal's exception, raised where the request is being served

    server.set_app(app)
    fallback = threading.Timer(20, server.shutdown)  # (the old behaviour: served on; do not hang the test)

    def request() -> None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/", timeout=10).close()  # noqa: S310
        except OSError:
            pass  # the connection is dropped: the server stopped

    client = threading.Thread(target=request, daemon=True)
    fallback.start()
    client.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            server.serve_forever()
    finally:
        fallback.cancel()
        server.server_close()
    assert "Traceback" not in capsys.readouterr().err


def test_a_stop_some_library_swallowed_still_ends_the_server() -> None:
    from optgan_cli import stops

    server = _listen("127.0.0.1", 0)
    try:
        server.service_actions()  # no stop: nothing happens
        stops.received.append(15)  # what the CLI's signal handler records
        with pytest.raises(KeyboardInterrupt):
            server.service_actions()
    finally:
        stops.received.clear()
        server.server_close()
