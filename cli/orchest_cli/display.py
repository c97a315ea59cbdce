"""What the CLI prints of the API's answers."""

from __future__ import annotations

import click
import httpx
from rich.console import Console
from rich.table import Table

from orchest_schemas.health import HealthReport

from .auth import auth_headers
from .errors import describe


def show_health(url: str) -> bool:
    """Print the stack's health report; whether every part is up."""
    try:
        response = httpx.get(f"{url}/api/health", headers=auth_headers(), timeout=5.0)
        report = HealthReport.model_validate_json(response.content)
    except httpx.HTTPError as exc:
        problem = describe(exc)
        (problem or click.ClickException(str(exc))).show()
        return False
    except ValueError:
        click.secho(
            f"error: {url}/api/health answered HTTP {response.status_code}, not a health report",
            fg="red",
            err=True,
        )
        return False
    table = Table(title=f"{url}  {report.status}")
    table.add_column("service")
    table.add_column("up")
    table.add_column("instances")
    table.add_column("version")
    table.add_column("pids")
    for svc in report.services:
        table.add_row(
            svc.name,
            "[green]yes[/green]" if svc.up else "[red]no[/red]",
            str(len(svc.instances)),
            ", ".join(sorted({i.version for i in svc.instances})),
            ", ".join(str(i.pid) for i in svc.instances),
        )
    for dep in report.dependencies:
        table.add_row(
            dep.name, "[green]yes[/green]" if dep.up else "[red]no[/red]", "", "", dep.detail or ""
        )
    Console().print(table)
    return report.status == "ok"
