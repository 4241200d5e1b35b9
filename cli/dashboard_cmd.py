"""`optgan dashboard`: optuna-dashboard on a storage, with the searches' pictures wired in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from optgan_cli.options import storage_option

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer


def register(group: click.Group) -> None:
    group.add_command(dashboard)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@click.option("--run-dir", "run_dirs", multiple=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Also read pictures from this run directory (a search's folder mounted or copied elsewhere "
                   "than its stored path); repeatable.")
@storage_option
def dashboard(host: str, port: int, run_dirs: tuple[str, ...], storage: str | None) -> None:
    """Serve optuna-dashboard for every search in the storage (Ctrl-C stops it)."""
    from optgan.study.artifacts import RunDirsArtifactStore, check_run_dirs
    from optgan.study.storage import open_storage
    from optgan.study.storage_url import default_run_root, redact, resolve_storage_url

    url = resolve_storage_url(storage)
    rdb = open_storage(url, create=False)
    extra = check_run_dirs(run_dirs)
    store = RunDirsArtifactStore(rdb, default_run_root(url) / "dashboard-uploads", extra_run_dirs=extra)
    server = _listen(host, port)  # bound here: the port printed is the port served (--port 0 too)
    try:
        where = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL
        click.echo(f"optuna-dashboard for {redact(url)} at http://{where}:{server.server_port}/  (Ctrl-C to stop)",
                   err=True)
        _serve(server, rdb, _MissingAs404(store))
    finally:
        server.server_close()


def _serve(server: WSGIServer, storage: object, artifact_store: object) -> None:
    """optuna-dashboard's WSGI app on `server` (already listening) until Ctrl-C / SIGTERM."""
    from optuna_dashboard import wsgi

    server.set_app(wsgi(storage, artifact_store=artifact_store))
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: how a server is meant to end (exit 0)
        pass


class _MissingAs404:
    """The artifact store as the server should see it: a picture whose file is not in any run
    directory here is a 404 with a hint (optuna-dashboard answers 500 with a traceback), said
    once in the console."""

    def __init__(self, store: object) -> None:
        self._store = store
        self._told = False

    def open_reader(self, artifact_id: str) -> object:
        from bottle import HTTPError
        from optuna.artifacts.exceptions import ArtifactNotFound

        try:
            return self._store.open_reader(artifact_id)  # type: ignore[attr-defined]
        except ArtifactNotFound:
            if not self._told:
                self._told = True
                click.echo(f"warning: artifact {artifact_id} (and maybe more) is in no run directory here; if a "
                           "search's run directory was moved, pass it with --run-dir DIR", err=True)
            raise HTTPError(404, "artifact file not found in any run directory here (see the dashboard's console)")

    def __getattr__(self, name: str) -> object:  # write, remove, …: the store's own
        return getattr(self._store, name)


def _listen(host: str, port: int) -> WSGIServer:
    """A WSGI server listening on `host:port` (`--port 0`: a free port, the server's own), as
    optuna-dashboard's `run_server` would make it; a one-line error, before anything is served,
    when `host:port` cannot be listened on."""
    import socket
    import sys
    from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

    from optgan.errors import OptganError
    from optgan_cli.entry import exception_behind
    from optgan_cli.stops import stop_received

    class Response(ServerHandler):
        def handle_error(self) -> None:
            if isinstance(sys.exc_info()[1], KeyboardInterrupt):  # a stop, not a failed request:
                raise  # wsgiref would print it and serve on
            super().handle_error()

    class Handler(WSGIRequestHandler):
        def address_string(self) -> str:  # no reverse DNS lookup per request
            return self.client_address[0]

        def handle(self) -> None:  # WSGIRequestHandler.handle (Python 3.11-3.13), with Response
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(414)
                return
            if not self.parse_request():  # an error code has been sent
                return
            handler = Response(self.rfile, self.wfile,  # type: ignore[arg-type]  # as wsgiref's own handle()
                               self.get_stderr(), self.get_environ(), multithread=False)
            handler.request_handler = self  # type: ignore[attr-defined]  # (for logging)
            try:
                handler.run(self.server.get_app())  # type: ignore[attr-defined]  # self.server is a WSGIServer
            except Exception as e:  # its clean-up can fail over the stop (no status line yet): the stop counts
                raise exception_behind(e, KeyboardInterrupt) or e

    try:
        class Server(WSGIServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as bottle's server picks it

            def service_actions(self) -> None:  # between requests (every 0.5 s when idle)
                if stop_received():  # a stop some library swallowed still ends the server
                    raise KeyboardInterrupt

        return Server((host, port), Handler)  # binds and listens (SO_REUSEADDR, as before)
    except OSError as e:
        raise OptganError(f"cannot serve the dashboard on {host}:{port}: {e.strerror or e}; "
                          "pick another --port (or --host)") from None
