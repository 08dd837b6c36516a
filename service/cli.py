"""The `preflight` command: serve, demo, ingest, screen, manifest, status, outcome(s), and
the set-up helpers."""

from __future__ import annotations

import csv
import functools
import gc
import os
import re
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
import grpc
from google.protobuf import json_format
from tqdm import tqdm

from index.errors import ValidationError
from index.model import (
    Channel,
    Incident,
    IncidentKind,
    Location,
    Party,
    PartyRole,
    SubstanceClass,
)
from index.synthetic import Generator
from preflight.v1 import preflight_pb2 as pb
from service import logs
from service.audit import AuditQuery, open_audit
from service.auth import AccessControl, CallersError, Role, callers_entry, hash_api_key
from service.certs import make_development_pki
from service.cli_errors import (
    EXIT_BAD_INPUT,
    EXIT_GREEN,
    EXIT_HITS,
    EXIT_INTERRUPTED,
    EXIT_NO_VERDICT,
    CommandFailed,
    explain,
)
from service.client import Connection, PreflightClient
from service.codec import incident_from_csv_row, incident_from_json
from service.manifest import rows_done, screen_manifest, stoplight_name, summarize
from service.manifest_record import ManifestError, describe_input
from service.metrics import (
    ServerMetrics,
    enable_multiprocess,
    exporter_registry,
    forget_worker,
    serve_metrics,
)
from service.ports import ensure_free
from service.refresh import IndexHolder
from service.rpc.server import load_access_for, new_holder, server_credentials, start_server
from service.safeguards import check_serving_setup
from service.settings import Settings, SettingsError, load_settings
from service.store import open_store
from service.store.base import PutOutcome, StoreError
from service.workers import default_workers, run_workers

PUT_BATCH = 500
SHOWCASE_PHONE = "+86 21 5555 0188"


def _settings(config: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, overrides=overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def _store_settings(config: str | None, store_url: str | None) -> Settings:
    """Settings of a command that reads or writes the store: there must be one, and the
    command says which (on stderr, so its output stays clean)."""
    settings = _settings(config, store_url=store_url)
    try:
        click.echo(f"store: {settings.require_store()}", err=True)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    return settings


config_option = click.option(
    "--config", type=click.Path(dir_okay=False), help="Settings file (TOML)."
)
store_option = click.option(
    "--store-url",
    help="sqlite:///PATH, redis://HOST:PORT/DB or redis+sentinel://HOST:PORT,HOST:PORT/SERVICE/DB",
)
_CONNECTION_OPTIONS = (
    click.option("--target", default="127.0.0.1:50051", show_default=True,
                 help="Server address, or several separated by commas (calls are balanced "
                      "over them, round-robin)."),
    click.option("--ca-file", envvar="PREFLIGHT_CA_FILE", default="",
                 help="CA that signed the server certificate (TLS); none = plaintext."),
    click.option("--cert-file", envvar="PREFLIGHT_CERT_FILE", default="",
                 help="This agency's client certificate (mTLS)."),
    click.option("--key-file", envvar="PREFLIGHT_KEY_FILE", default="",
                 help="The client certificate's private key."),
    click.option("--api-key", envvar="PREFLIGHT_API_KEY", default="",
                 help="API key instead of a client certificate (over TLS only)."),
)  # fmt: skip


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--target and the TLS / API-key options, handed to the command as one Connection; a
    failed call becomes one line naming the target."""

    @functools.wraps(command)
    def with_connection(**kwargs: Any) -> Any:
        names = ("target", "ca_file", "cert_file", "key_file", "api_key")
        connection = Connection(*(kwargs.pop(n) for n in names))
        try:
            return command(connection=connection, **kwargs)
        except grpc.RpcError as exc:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            raise explain(exc, connection.target, SCREEN_FLAGS) from exc

    for option in reversed(_CONNECTION_OPTIONS):
        with_connection = option(with_connection)
    return with_connection


# The flag that fills each request field of `preflight screen`, to name bad input as typed.
SCREEN_FLAGS = {
    r"item\.item_id": "--item-id",
    r"item\.channel": "--channel",
    r"parties\[0\]\.country_code": "--country",
    r"parties\[0\]\.business_name": "--business-name",
    r"parties\[0\]\.name": "--name",
    r"parties\[0\]\.city": "--city",
    r"parties\[0\]\.postcode": "--postcode",
    r"parties\[0\]\.location\.lat": "--lat",
    r"parties\[0\]\.location\.lon": "--lon",
    r"parties\[0\]\.phones\[\d+\]": "--phone",
    r"parties\[0\]\.emails\[\d+\]": "--email",
    # `preflight outcome`
    r"item_id": "ITEM_ID",
    r"incident_id": "INCIDENT_ID",
    r"outcome": "OUTCOME",
    r"party_index": "--party",
}


class PreflightGroup(click.Group):
    """Every failure of a command as one line with what to do next, and its exit status
    (service.cli_errors); the traceback only with --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, CommandFailed):
            raise
        except KeyboardInterrupt:
            raise CommandFailed("interrupted", EXIT_INTERRUPTED) from None
        except click.UsageError as exc:
            if ctx.params.get("debug"):
                raise
            command = exc.ctx.command_path if exc.ctx else ctx.command_path
            raise CommandFailed(
                f"{exc.format_message()} (see `{command} --help`)", EXIT_BAD_INPUT
            ) from exc
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise explain(exc) from exc


@click.group(cls=PreflightGroup)
@click.option("--debug", is_flag=True, envvar="PREFLIGHT_DEBUG",
              help="Show the traceback of a failure.")  # fmt: skip
def main(debug: bool) -> None:
    """Preflight: pre-flight screening of postal items against recorded incidents.

    Exit statuses: 0 GREEN (all green), 1 AMBER or RED (hits), 2 bad input, 3 no verdict (the
    server is unreachable or not ready; rows not screened), 4 refused by the server, 130
    interrupted."""


@main.command()
@config_option
@store_option
@click.option("--listen", help="host:port to listen on")
@click.option("--workers", type=int, help="server processes sharing the port (0 = cores)")
@click.option("--metrics-listen", help="host:port of the Prometheus /metrics endpoint ('' = none)")
@click.option(
    "--allow-plaintext",
    is_flag=True,
    default=None,
    help="Serve without TLS (local development only).",
)
@click.option("--allow-empty-index", is_flag=True, default=None,
              help="Report SERVING even while the index holds no incidents.")  # fmt: skip
def serve(
    *,
    config: str | None,
    store_url: str | None,
    listen: str | None,
    workers: int | None,
    metrics_listen: str | None,
    allow_plaintext: bool | None,
    allow_empty_index: bool | None,
) -> None:
    """Serve screening over gRPC until SIGTERM or Ctrl-C (drains in-flight calls)."""
    settings = _settings(config, store_url=store_url, listen=listen, workers=workers,
                         metrics_listen=metrics_listen,
                         allow_plaintext=1 if allow_plaintext else None,
                         allow_empty_index=1 if allow_empty_index else None)  # fmt: skip
    try:  # refuse a bad setup before loading anything
        settings.require_store()
        server_credentials(settings)
        access = load_access_for(settings)
        check_serving_setup(settings, access)
        ensure_free(settings.listen, "--listen")
        if settings.metrics_listen:
            ensure_free(settings.metrics_listen, "--metrics-listen")
    except (SettingsError, CallersError, OSError) as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"store: {settings.store_url}", err=True)
    metrics_dir = Path(settings.metrics_dir or tempfile.mkdtemp(prefix="preflight-metrics-"))
    enable_multiprocess(metrics_dir)  # before any metric exists, here or in a worker
    try:
        sys.exit(_serve(settings, access))
    finally:
        if not settings.metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _export_metrics(settings: Settings, workers: Mapping[int, int]) -> None:
    if settings.metrics_listen:
        registry = exporter_registry(lambda: workers, len(workers))
        port = serve_metrics(settings.metrics_listen, registry, settings.tls_cert_file,
                             settings.tls_key_file, settings.tls_client_ca_file)  # fmt: skip
        scheme = "https" if settings.tls_cert_file else "http"
        host = settings.metrics_listen.rpartition(":")[0]
        click.echo(f"metrics on {scheme}://{host}:{port}/metrics", err=True)


def _serve(settings: Settings, access: AccessControl) -> int:
    """`access` is made before the fork, so every worker draws on the same rate limits."""
    count = settings.workers or default_workers()
    if count == 1 or settings.listen.endswith(":0"):
        _export_metrics(settings, {0: os.getpid()})
        return _serve_one(settings, 0, None, access)
    # Load once, then fork: the workers share the snapshot's pages copy-on-write.
    logs.configure(settings.log_format, settings.log_level)
    holder = new_holder(settings)
    click.echo(f"loading the index from {settings.store_url} before forking {count} workers…",
               err=True)  # fmt: skip
    try:
        holder.load()
    except StoreError as exc:
        raise click.ClickException(f"cannot load the index: {exc}") from exc
    holder.store.close()  # no store connection may cross the fork
    gc.freeze()
    workers, supervise = run_workers(
        count,
        lambda number: _serve_one(settings, number, holder, access),
        on_exit=forget_worker,
    )
    _export_metrics(settings, workers)  # after the fork: no exporter thread in the workers
    return supervise()


def _serve_one(
    settings: Settings, number: int, holder: IndexHolder | None, access: AccessControl
) -> int:
    logs.configure(settings.log_format, settings.log_level)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    running = start_server(settings, holder, ServerMetrics(), access)
    state = "index loaded" if running.holder.view is not None else "loading the index…"
    click.echo(
        f"preflight worker {number} listening on {settings.listen.rsplit(':', 1)[0]}:"
        f"{running.port} (store {settings.store_url}); {state}",
        err=True,
    )
    if running.holder.wait_loaded(settings.startup_timeout_s):
        incidents = running.holder.status().incidents
        if incidents or settings.allow_empty_index:
            click.echo(f"ready: {incidents:,} incidents indexed", err=True)
        else:
            click.echo(
                f"the index holds no incidents ({settings.store_url} is empty): health stays "
                "NOT_SERVING and screens are refused until incidents are ingested "
                "(or serve with --allow-empty-index)",
                err=True,
            )
    else:
        click.echo("still loading the index: health stays NOT_SERVING until it is", err=True)
    stop.wait()
    click.echo(f"worker {number} shutting down: draining in-flight calls", err=True)
    running.stop(settings.shutdown_grace_s)
    return 0


def showcase_incident() -> Incident:
    """A recognisable demo incident, so a newcomer's first screening returns a RED."""
    return Incident(
        incident_id="ION-DEMO-0001",
        kind=IncidentKind.SEIZURE,
        reported_on=date(2026, 9, 14),
        reporting_country="DE",
        agency="Zollfahndungsamt Frankfurt",
        contact_ref="DE-FP-042",
        channel=Channel.EXPRESS,
        substance_class=SubstanceClass.PRECURSOR,
        substances=("1-boc-4-AP",),
        parties=(
            Party(
                role=PartyRole.EXPORTER,
                business_name="上海宏达化工有限公司",
                address_lines=("88 Jiangchang Road",),
                postcode="200436",
                city="Shanghai",
                country_code="CN",
                location=Location(31.2877, 121.4429),
                phones=(SHOWCASE_PHONE,),
                emails=("export@hongda-chem.example",),
            ),
            Party(
                role=PartyRole.IMPORTER,
                name="Natalya Ivanova",
                city="Berlin",
                country_code="DE",
                location=Location(52.5163, 13.3777),
            ),
        ),
    )


def _put_all(incidents: Iterator[Incident], total: int, settings: Settings) -> dict[str, int]:
    store = open_store(settings.store_url, settings.redis_prefix, settings.redis_options())
    counts = dict.fromkeys((o.value for o in PutOutcome), 0)
    batch: list[Incident] = []
    with tqdm(total=total, unit="incident", desc="storing", file=sys.stderr) as bar:
        for incident in incidents:
            batch.append(incident)
            if len(batch) == PUT_BATCH:
                for outcome in store.put(batch):
                    counts[outcome.value] += 1
                bar.update(len(batch))
                batch = []
        if batch:
            for outcome in store.put(batch):
                counts[outcome.value] += 1
            bar.update(len(batch))
    store.close()
    return counts


@main.command()
@config_option
@store_option
@click.option("--count", default=20_000, show_default=True, help="Incidents to generate.")
@click.option("--seed", default=2026, show_default=True)
def demo(config: str | None, store_url: str | None, count: int, seed: int) -> None:
    """Fill the store with realistic synthetic incidents (and one showcase incident)."""
    settings = _store_settings(config, store_url)
    generated = Generator(seed).incidents(count)
    incidents = iter([showcase_incident(), *generated])
    counts = _put_all(incidents, count + 1, settings)
    click.echo(f"demo incidents: {counts}", err=True)


def _read_csv(path: Path, errors: list[str]) -> Iterator[Incident]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):  # row 1 is the header
            try:
                yield incident_from_csv_row(row, f"row {number}")
            except ValidationError as exc:
                errors.append(f"row {number}: {exc}")


def _read_jsonl(path: Path, errors: list[str]) -> Iterator[Incident]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield incident_from_json(line, f"row {number}")
            except ValidationError as exc:
                errors.append(f"row {number}: {exc}")


@main.command()
@config_option
@store_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ingest(config: str | None, store_url: str | None, file: Path) -> None:
    """Store incidents from FILE: JSON Lines (schemas/incident.schema.json, one per line) or
    CSV (`.csv`, columns in the README).

    Bad rows are reported with their row number and reason and never stop the good ones;
    running the same file again changes nothing."""
    settings = _store_settings(config, store_url)
    errors: list[str] = []
    is_csv = file.suffix.lower() == ".csv"
    total = sum(1 for line in file.open("rb") if line.strip()) - (1 if is_csv else 0)
    rows = _read_csv(file, errors) if is_csv else _read_jsonl(file, errors)
    counts = _put_all(rows, total, settings)
    for error in errors:
        click.echo(error, err=True)
    click.echo(f"{file}: {counts}, rejected {len(errors)}", err=True)
    if errors:
        sys.exit(1)


def _print_verdict(reply: pb.ScreenResponse) -> None:
    click.echo(
        f"{reply.item_id}: {stoplight_name(reply.stoplight)} score {reply.score:.1f}  "
        f"(index generation {reply.index.generation}, {reply.index.incidents:,} incidents, "
        f"policy {reply.policy_version})"
    )
    for party in reply.parties:
        for m in party.matches:
            distance = (
                f"{m.evidence.distance_m:.0f} m" if m.evidence.HasField("distance_m") else "-"
            )
            click.echo(
                f"  party {party.party_index}: {stoplight_name(m.stoplight):5} {m.score:5.1f} "
                f"{m.incident.incident_id} ({pb.IncidentKind.Name(m.incident.kind).lower()[14:]}, "
                f"{m.incident.reported_on}, {m.incident.reporting_country} "
                f"{m.incident.agency}, contact {m.incident.contact_ref})"
            )
            click.echo(
                f"      {', '.join(m.reason_codes)}; name {m.evidence.name_similarity:.2f} "
                f"{m.evidence.query_name!r} ~ {m.evidence.incident_name!r}; distance {distance}"
            )


def _country(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value and not re.fullmatch(r"[A-Za-z]{2}", value):
        raise click.BadParameter(
            f"{value!r} is not an ISO 3166-1 alpha-2 code: give two letters, e.g. DE or CN"
        )
    return value.upper()


CHANNELS = [name.removeprefix("CHANNEL_").lower() for name in pb.Channel.keys()[1:]]


@main.command()
@connection_options
@click.option("--item-id", default="EE471108151FR", show_default=True)
@click.option("--channel", type=click.Choice(CHANNELS), default="parcel_post", show_default=True)
@click.option("--role", type=click.Choice(["exporter", "importer", "other"]), default="exporter")
@click.option("--name", default="")
@click.option("--business-name", default="")
@click.option("--country", default="", callback=_country, help="ISO 3166-1 alpha-2, e.g. DE")
@click.option("--city", default="")
@click.option("--postcode", default="")
@click.option("--lat", type=click.FloatRange(-90, 90), help="Latitude (with --lon).")
@click.option("--lon", type=click.FloatRange(-180, 180), help="Longitude (with --lat).")
@click.option("--phone", multiple=True)
@click.option("--email", multiple=True)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the whole reply as JSON (every field, zeros and empty lists too).",
)
def screen(  # noqa: PLR0917 - one parameter per command-line flag
    connection: Connection, item_id: str, channel: str, role: str, name: str,
    business_name: str, country: str, city: str, postcode: str, lat: float | None,
    lon: float | None, phone: tuple[str, ...], email: tuple[str, ...], as_json: bool,
) -> None:  # fmt: skip
    """Screen one item with one party, described by flags.

    Exit status: 0 GREEN, 1 AMBER or RED, 2 bad input, 3 server unreachable or not ready,
    4 refused."""
    if (lat is None) != (lon is None):
        raise click.UsageError("--lat and --lon go together: give both or neither")
    party = pb.Party(
        role=pb.PartyRole.Value(f"PARTY_ROLE_{role.upper()}"), name=name,
        business_name=business_name, country_code=country, city=city, postcode=postcode,
        phones=list(phone), emails=list(email),
    )  # fmt: skip
    if lat is not None and lon is not None:
        party.location.CopyFrom(pb.Location(lat=lat, lon=lon))
    request = pb.ScreenRequest(
        item=pb.Item(item_id=item_id, channel=pb.Channel.Value(f"CHANNEL_{channel.upper()}")),
        parties=[party],
    )
    with PreflightClient(connection) as client:
        reply = client.screen(request)
    if as_json:
        click.echo(
            json_format.MessageToJson(
                reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
        )
    else:
        _print_verdict(reply)
    if reply.index.incidents == 0:
        click.echo("warning: the server's index holds no incidents: this verdict means nothing",
                   err=True)  # fmt: skip
    sys.exit(EXIT_GREEN if reply.stoplight == pb.STOPLIGHT_GREEN else EXIT_HITS)


@main.command()
@connection_options
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--batch-size", default=500, show_default=True, help="Items per ScreenBatch call.")
@click.option("--in-flight", default=3, show_default=True, help="Batches in flight at once.")
def manifest(
    connection: Connection, source: Path, output: Path, batch_size: int, in_flight: int
) -> None:
    """Screen a customs manifest (CSV, columns in the README) into OUTPUT (CSV).

    OUTPUT.preflight.json records which manifest (its SHA-256) and which policy OUTPUT holds
    verdicts of; a rerun resumes after the rows already in OUTPUT, and refuses when they belong
    to another manifest or policy. Exit status, over every row in OUTPUT: 0 all green, 1 hits
    found, 3 rows not screened (their error is in OUTPUT, or the server could not be reached),
    130 interrupted (rerun the same command to resume)."""
    resume = (
        f"preflight manifest {shlex.quote(str(source))} -o {shlex.quote(str(output))} "
        f"--target {connection.target} (and the same credentials)"
    )
    try:
        with (
            PreflightClient(connection, timeout_s=30.0) as client,
            tqdm(total=describe_input(source).input_rows, initial=rows_done(output), unit="item",
                 desc="screening", file=sys.stderr) as bar,
        ):  # fmt: skip
            run = screen_manifest(
                source, output, client, batch_size=batch_size, in_flight=in_flight, progress=bar
            )
    except ManifestError as exc:
        raise CommandFailed(str(exc), EXIT_BAD_INPUT) from exc
    except KeyboardInterrupt:
        click.echo(
            f"\ninterrupted: {rows_done(output)} rows are in {output}; run the same command "
            f"again to resume after them:\n  {resume}",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    except grpc.RpcError as exc:
        failure = explain(exc, connection.target)
        click.echo(f"{rows_done(output)} rows are in {output}; once the server answers, run "
                   f"the same command again to resume:\n  {resume}", err=True)  # fmt: skip
        raise CommandFailed(failure.message, EXIT_NO_VERDICT) from exc
    whole = summarize(output)
    missing = describe_input(source).input_rows - whole.rows
    click.echo(
        f"{run.rows} rows screened ({run.skipped} done before); {output} holds {whole.rows} "
        f"rows: {whole.green} green, {whole.hits} hits, {whole.errors} errors"
        + (f", {missing} not screened" if missing else ""),
        err=True,
    )
    if whole.errors or missing:
        sys.exit(EXIT_NO_VERDICT)
    sys.exit(EXIT_HITS if whole.hits else EXIT_GREEN)


OUTCOMES = [name.removeprefix("OUTCOME_").lower() for name in pb.Outcome.keys()[1:]]


def _when(stamp: Any) -> str:
    """A Timestamp as UTC ISO seconds; "-" when unset."""
    seconds = stamp.ToSeconds()
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds") if seconds else "-"


def _outcome_line(o: pb.RecordedOutcome) -> str:
    name = pb.Outcome.Name(o.outcome).removeprefix("OUTCOME_")
    line = (
        f"{_when(o.recorded_at)}  {o.item_id} party {o.party_index} ~ {o.incident_id} "
        f"v{o.incident_version}: {name} by {o.caller} ({o.agency}); screened "
        f"{stoplight_name(o.stoplight)} under {o.policy_version} ({', '.join(o.reason_codes)})"
    )
    if o.outcome == pb.OUTCOME_CLEARED_FALSE_MATCH:
        state = "suppressing" if o.in_effect else "lifted (new incident version, expired or seized)"
        line += f"; {state}, expiry {_when(o.suppressed_until)}"
    return line


def _print_outcome(reply: pb.RecordedOutcome, as_json: bool) -> None:
    if as_json:
        click.echo(json_format.MessageToJson(
            reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True,
            indent=None,
        ))  # fmt: skip
    else:
        click.echo(_outcome_line(reply))


@main.command()
@connection_options
@click.argument("item_id")
@click.argument("incident_id")
@click.argument("outcome", metavar="OUTCOME", type=click.Choice(OUTCOMES, case_sensitive=False))
@click.option("--party", type=click.IntRange(min=0),
              help="Index of the screened party that matched, when several did.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the recorded outcome as JSON.")
def outcome(  # noqa: PLR0917 - one parameter per argument and flag
    connection: Connection, item_id: str, incident_id: str, outcome: str, party: int | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Record what inspecting ITEM_ID found about its match with INCIDENT_ID: seized,
    cleared_false_match (the party is not the incident's: the pair stops raising your
    agency's stoplights) or cleared_other.

    The server finds your agency's screen of the item in its audit trail. Exit status: 0
    recorded, 2 bad input (the server names the argument), 3 server unreachable, 4 refused."""
    request = pb.RecordOutcomeRequest(
        item_id=item_id, incident_id=incident_id,
        outcome=pb.Outcome.Value(f"OUTCOME_{outcome.upper()}"),
    )  # fmt: skip
    if party is not None:
        request.party_index = party
    with PreflightClient(connection) as client:
        _print_outcome(client.record_outcome(request), as_json)


@main.command()
@connection_options
@click.option("--item-id", default="", help="Only this item's outcomes.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per outcome and line.")
def outcomes(connection: Connection, item_id: str, limit: int, as_json: bool) -> None:
    """Your agency's recorded outcomes, newest first (every agency's for an admin caller)."""
    token = ""
    shown = 0
    with PreflightClient(connection) as client:
        while shown < limit:
            size = min(limit - shown, 1000)
            page = client.list_outcomes(
                pb.ListOutcomesRequest(page_size=size, page_token=token, item_id=item_id)
            )
            for recorded in page.outcomes:
                _print_outcome(recorded, as_json)
            shown += len(page.outcomes)
            token = page.next_page_token
            if not token:
                break


STALE_AFTER_S = 60.0


def index_warnings(status: pb.IndexStatus) -> list[str]:
    """What makes an index's verdicts unsafe to trust, in words."""
    warnings = []
    if not status.loaded:
        warnings.append("no index is loaded yet: screens are refused until it is")
    elif status.incidents == 0:
        warnings.append("the index holds no incidents: every verdict would be GREEN")
    if not status.store_reachable:
        warnings.append(f"the store is unreachable: {status.last_error or 'no reason given'}")
    if status.loaded and status.staleness_seconds > STALE_AFTER_S:
        warnings.append(
            f"the change feed was last read {status.staleness_seconds:.0f} s ago: recent "
            "incidents may be missing"
        )
    return warnings


@main.command()
@connection_options
def status(connection: Connection) -> None:
    """The server's index status as JSON (every field); warnings on stderr when the index is
    empty, not loaded or stale."""
    with PreflightClient(connection) as client:
        reply = client.index_status()
    click.echo(
        json_format.MessageToJson(
            reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    )
    for warning in index_warnings(reply):
        click.echo(f"warning: {warning}", err=True)


ROLE_OPTION = click.option(
    "--role", "roles", multiple=True, default=("screen",), show_default=True,
    type=click.Choice([r.value for r in Role]), help="Role of the caller (repeat for several).",
)  # fmt: skip
DEMO_STORE_URL = "sqlite:///.preflight/demo.db"


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--host",
    "hosts",
    multiple=True,
    default=("127.0.0.1", "localhost"),
    show_default=True,
    help="Server names (DNS or IP) the server certificate covers.",
)
@click.option(
    "--client",
    "clients",
    multiple=True,
    default=("dev-agency",),
    show_default=True,
    help="A client certificate per agency system (its CN and DNS SAN).",
)
@ROLE_OPTION
@click.option("--store-url", default=DEMO_STORE_URL, show_default=True,
              help="Store of the printed serve line (`make run` fills this one).")  # fmt: skip
def certs(
    directory: Path,
    hosts: tuple[str, ...],
    clients: tuple[str, ...],
    roles: tuple[str, ...],
    store_url: str,
) -> None:
    """Make a development CA, a server certificate and client certificates in DIRECTORY, with
    a callers file for them and a settings file for an mTLS server (its own audit key)."""
    for path in make_development_pki(directory, hosts, clients):
        click.echo(str(path))
    entries = "\n".join(
        callers_entry(client, [Role(r) for r in roles], certificate_names=[client])
        for client in clients
    )
    callers = directory / "callers.toml"
    callers.write_text(entries)
    config = directory / "preflight.toml"
    config.write_text(
        f'tls_cert_file = "{directory / "server.crt"}"\n'
        f'tls_key_file = "{directory / "server.key"}"\n'
        f'tls_client_ca_file = "{directory / "ca.crt"}"\n'
        f'callers_file = "{callers}"\n'
        f'audit_key = "{secrets.token_hex(32)}"\n'
    )
    config.chmod(0o600)  # it holds the audit key
    click.echo(f"{callers}\n{config}\n\ncallers file {callers}:\n{entries}")
    client = clients[0] if clients else "NAME"
    credentials = (
        f"--ca-file {directory}/ca.crt --cert-file {directory}/{client}.crt "
        f"--key-file {directory}/{client}.key"
    )
    click.echo(
        f"serve:   preflight serve --config {config} --store-url {store_url}\n"
        f"screen:  preflight screen {credentials} --name 'Someone Else' --country FR\n"
        f"metrics: curl --cacert {directory}/ca.crt --cert {directory}/{client}.crt "
        f"--key {directory}/{client}.key https://127.0.0.1:9464/metrics"
    )


@main.command()
@click.argument("caller")
@ROLE_OPTION
def apikey(caller: str, roles: tuple[str, ...]) -> None:
    """A new API key for CALLER and its complete callers-file entry (the key itself is shown
    once and stored nowhere; the entry holds only its digest). API keys are accepted over
    TLS without a client CA."""
    key = secrets.token_urlsafe(32)
    click.echo(f"API key (give it to {caller}, over a secure channel): {key}")
    entry = callers_entry(caller, [Role(r) for r in roles], api_key_sha256=[hash_api_key(key)])
    click.echo(f"\ncallers file entry:\n{entry}")


def _instant(text: str | None, default: float) -> float:
    if not text:
        return default
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not an ISO date or date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@main.command()
@config_option
@store_option
@click.option("--item-id", default="", help="Only this item (S10 or waybill id).")
@click.option("--caller", default="", help="Only this caller.")
@click.option("--since", help="From this ISO date or date-time (UTC unless it says).")
@click.option("--until", help="Up to this ISO date or date-time.")
@click.option("--limit", default=1000, show_default=True)
def audit(  # noqa: PLR0917 - one parameter per command-line flag
    config: str | None, store_url: str | None, item_id: str, caller: str, since: str | None,
    until: str | None, limit: int,
) -> None:  # fmt: skip
    """Audit records (one per verdict) as JSON lines, oldest first."""
    settings = _store_settings(config, store_url)
    sink = open_audit(settings.store_url, settings.redis_prefix, settings.redis_options())
    query = AuditQuery(item_id=item_id, caller=caller, since=_instant(since, 0.0),
                       until=_instant(until, float("inf")), limit=limit)  # fmt: skip
    try:
        for record in sink.query(query):
            click.echo(record.to_json().decode())
    finally:
        sink.close()
