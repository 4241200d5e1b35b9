"""`optgan dashboard`: optuna-dashboard on a storage, with the searches' pictures wired in."""

from __future__ import annotations

import click

from optgan_cli.options import storage_option


def register(group: click.Group) -> None:
    group.add_command(dashboard)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@storage_option
def dashboard(host: str, port: int, storage: str | None) -> None:
    """Serve optuna-dashboard for every search in the storage (Ctrl-C stops it)."""
    from optuna_dashboard import run_server

    from optgan.study.artifacts import RunDirsArtifactStore
    from optgan.study.storage import default_run_root, open_storage, redact, resolve_storage_url

    url = resolve_storage_url(storage)
    rdb = open_storage(url, create=False)
    store = RunDirsArtifactStore(rdb, default_run_root(url) / "dashboard-uploads")
    click.echo(f"optuna-dashboard for {redact(url)} at http://{host}:{port}/  (Ctrl-C to stop)", err=True)
    run_server(rdb, host=host, port=port, artifact_store=store)
