"""``shim connectors``: list the installed connectors, serve them to Flyte, show a local run's
stored state (``shim runs resume`` resumes one)."""

from __future__ import annotations

import json
import logging
import sys

import click

from shim.commands.common import ShimGroup, fail, usage
from shim.errors import ShimError


@click.group("connectors", cls=ShimGroup, invoke_without_command=True)
@click.pass_context
def connectors_group(ctx: click.Context) -> None:
    """List the connectors installed here (entry-point group shim.connectors)."""
    if ctx.invoked_subcommand is not None:
        return
    from shim.connectors.registry import ConnectorRegistry, connector_source

    found = ConnectorRegistry.list_connectors()
    if not found:
        click.echo(
            "no connectors installed (install a connector distribution, e.g. "
            "shimkit-docker-connector)"
        )
    for c in found:
        click.echo(f"{c.task_type_name}\tv{c.task_type_version}\t{c.name}\t{connector_source(c)}")
    for f in ConnectorRegistry.failures():
        click.echo(
            f"shim connectors: warning: entry point {f.name} ({f.value}) failed to load: {f.error}",
            err=True,
        )


@connectors_group.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="address to listen on (a non-loopback address needs TLS or --insecure)",
)
@click.option("--port", default=8000, show_default=True, type=int, help="port (0: any free port)")
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="server certificate (PEM)")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="server private key (PEM)")
@click.option(
    "--tls-client-ca",
    type=click.Path(dir_okay=False),
    help="CA bundle (PEM) to require and verify client certificates (mutual TLS)",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="allow plaintext on a non-loopback address (a trusted network only)",
)
@click.option(
    "--grace",
    default=10.0,
    show_default=True,
    type=float,
    help="seconds calls in flight get to finish on SIGTERM",
)
@click.option(
    "-m",
    "--module",
    "modules",
    multiple=True,
    help="import this module first (it registers connectors in code); repeatable",
)
def serve_cmd(
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    tls_client_ca: str | None,
    insecure: bool,
    grace: float,
    modules: tuple[str, ...],
) -> None:
    """Serve Flyte's agent gRPC service (AsyncAgentService, AgentMetadataService, health)."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="shim connectors serve: %(message)s"
    )
    try:
        from shim.connectors.service import ServeOptions, load_modules, serve
    except ImportError as e:
        fail(f"{e}; install the service's dependencies: pip install 'shimkit[connectors]'")
    from shim.connectors.registry import ConnectorRegistry
    from shim.connectors.service import ListenError

    try:
        load_modules(modules)
        names = [
            f"{c.task_type_name} v{c.task_type_version} ({c.name})"
            for c in ConnectorRegistry.list_connectors()
        ]
        for f in ConnectorRegistry.failures():
            click.echo(
                f"shim connectors serve: warning: entry point {f.name} failed to load: {f.error}",
                err=True,
            )

        def ready(address: str) -> None:
            tls = "TLS" if tls_cert else "plaintext"
            click.echo(
                f"shim connectors serve: listening on {address} ({tls}); connectors: "
                f"{', '.join(names) or 'none'}",
                err=True,
            )

        serve(
            ServeOptions(
                host=host,
                port=port,
                tls_cert=tls_cert,
                tls_key=tls_key,
                tls_client_ca=tls_client_ca,
                insecure=insecure,
                grace=grace,
            ),
            ready,
        )
    except ListenError as e:
        fail(str(e))
    except ShimError as e:  # the options (TLS, an unsafe address, a module) are wrong
        usage(str(e))
    click.echo("shim connectors serve: stopped", err=True)


@connectors_group.command("status")
@click.argument("run_dir")
def status_cmd(run_dir: str) -> None:
    """Print the stored state of a local connector run (JSON; no secrets are stored)."""
    from shim.connectors.local import describe_run

    try:
        click.echo(json.dumps(describe_run(run_dir), indent=2, sort_keys=True))
    except (ShimError, FileNotFoundError) as e:
        fail(str(e))
