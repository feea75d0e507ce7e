"""``sightline stack up|down|status``: the local Kafka broker, S3 gateway and embedded ClickHouse.

Exit codes: ``status`` 0 when every component is healthy, 1 otherwise; ``up`` 0 once everything is
ready, 1 when a component fails to start (the message names its log file); ``down`` 0 once nothing
is left running, 1 when a process could not be stopped.
"""

from __future__ import annotations

from typing import NoReturn

import click
from rich import box
from rich.table import Table

from services.common.console import make_console
from services.common.settings import Settings
from services.common.stack import StackError, StackStatus, stack_status, start_stack, stop_stack

__all__ = ["stack"]

_STATE_STYLE = {
    "healthy": "green",
    "idle": "green",
    "in-use": "green",
    "unready": "yellow",
    "stopped": "red",
    "missing": "red",
}


def _settings(ctx: click.Context) -> Settings:
    """Settings handed down by the parent command, else read from the environment."""
    found = ctx.find_object(Settings)
    return found if found is not None else Settings()


def _render(status: StackStatus) -> None:
    console = make_console()
    table = Table(title=f"Local stack in {status.home}", title_justify="left", box=box.SIMPLE_HEAD)
    # Long paths fold instead of pushing the short columns out of a narrow terminal.
    table.add_column("component", no_wrap=True, min_width=10)
    table.add_column("state", no_wrap=True, min_width=7)
    table.add_column("endpoint", overflow="fold", min_width=22)
    table.add_column("pid", justify="right", no_wrap=True, min_width=7)
    table.add_column("detail", overflow="fold", min_width=10)
    for component in status.components:
        state = component.state
        table.add_row(
            component.name,
            f"[{_STATE_STYLE.get(state, 'white')}]{state}[/]",
            component.endpoint,
            str(component.pid) if component.pid is not None else "-",
            component.detail,
        )
    console.print(table)
    for component in status.components:
        console.print(f"[bold]{component.name}[/bold]: {component.description}", highlight=False)
        if component.log_path is not None:
            console.print(f"  log:  {component.log_path}", highlight=False, soft_wrap=True)
        console.print(f"  data: {component.storage}", highlight=False, soft_wrap=True)
    verdict = "[green]healthy[/green]" if status.healthy else "[red]not healthy[/red]"
    console.print(f"stack: {verdict}")


def _fail(ctx: click.Context, exc: StackError) -> NoReturn:
    click.secho(f"error: {exc}", fg="red", err=True)
    tail = exc.log_tail(20)
    if tail:
        click.echo(f"--- last lines of {exc.log_path} ---", err=True)
        click.echo(tail, err=True)
    ctx.exit(1)


@click.group(name="stack")
def stack() -> None:
    """Run the local stack: Kafka-protocol broker, S3 gateway and embedded ClickHouse.

    Everything binds to 127.0.0.1 and keeps its data, logs and PID files under
    SIGHTLINE_STACK__HOME (default: .local in the checkout). Meant for development, the demo and
    the tests; production uses real services and the same settings.
    """


@stack.command()
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds each component may take to become ready [default: SIGHTLINE_STACK__STARTUP_TIMEOUT_S].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the resulting status as JSON.")
@click.pass_context
def up(ctx: click.Context, timeout_s: float | None, as_json: bool) -> None:
    """Start the components that are not running and wait until all are ready.

    Idempotent: running components are left alone and stale PID files are cleaned. Exits 1 and
    shows the end of the component's log when one does not become ready.
    """
    settings = _settings(ctx)
    say = (lambda _m: None) if as_json else (lambda message: click.echo(message, err=True))
    try:
        status = start_stack(settings, timeout_s=timeout_s, progress=say)
    except StackError as exc:
        _fail(ctx, exc)
    except OSError as exc:
        _fail(ctx, StackError(str(exc)))
    if as_json:
        click.echo(status.to_json())
    else:
        _render(status)
    if not status.healthy:
        click.secho("error: the stack started but is not healthy", fg="red", err=True)
        ctx.exit(1)


@stack.command()
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=15.0,
    show_default=True,
    help="Seconds to wait after SIGTERM before sending SIGKILL.",
)
@click.pass_context
def down(ctx: click.Context, timeout_s: float) -> None:
    """Stop the broker, then the S3 gateway. Data is kept; idempotent.

    Only processes this stack started are signalled: a PID file naming any other process is
    removed without touching that process.
    """
    settings = _settings(ctx)
    try:
        stop_stack(settings, timeout_s=timeout_s, progress=lambda message: click.echo(message, err=True))
    except StackError as exc:
        _fail(ctx, exc)
    except OSError as exc:
        _fail(ctx, StackError(str(exc)))
    click.echo("stack stopped")


@stack.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show every component: state, endpoint, PID, log and data location.

    Exits 0 when every component is healthy and 1 otherwise, so scripts can wait on it.
    """
    result = stack_status(_settings(ctx))
    if as_json:
        click.echo(result.to_json())
    else:
        _render(result)
    ctx.exit(0 if result.healthy else 1)
