"""``annotate alliance``: counselor effects and clients not on track, for project leads.

Both read every counselor's and client's ratings: they are views for leads and
supervisors (the command line has no roles; share the output accordingly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.commands._common import engine, print_json

if TYPE_CHECKING:
    from rich.table import Table

    from annotate.research.counselors import CounselorEffects
    from annotate.research.watch import Watch

LEADS = "Leads only: these figures read every counselor's and client's ratings."
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
DimensionOption = Annotated[
    str | None,
    typer.Option("--dimension", help="Only this dimension (e.g. goal).", show_default=False),
]

alliance_app = typer.Typer(
    help="Alliance monitoring for leads: counselor effects (ICC) and clients not on track "
    "(reliable change).",
    no_args_is_help=True,
)


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _interval(value: float | None, low: float | None, high: float | None, digits: int = 2) -> str:
    """``0.25 [0.10, 0.40]``, the value alone without an interval, ``-`` when missing."""
    if value is None:
        return "-"
    if low is None or high is None:
        return _number(value, digits)
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def _print(*parts: Any) -> None:
    from rich.console import Console

    console = Console(width=160)
    for part in parts:
        console.print(part, markup=False) if isinstance(part, str) else console.print(part)


def show_effects(effects: CounselorEffects) -> None:
    """The ICC per dimension, then each dimension's counselors, largest gap first."""
    rows = [
        [d.dimension, _interval(d.icc, d.icc_low, d.icc_high), str(d.n_counselors),
         str(d.n_clients), str(d.n_sessions), _number(d.counselor_var, 3),
         _number(d.client_var, 3), _number(d.residual_var, 3)]
        for d in effects.dimensions
    ]  # fmt: skip
    samples = max((d.samples for d in effects.dimensions), default=0)
    _print(
        effects.method,
        _table(
            f"Counselor effects per dimension (95% CI: parametric bootstrap, {samples} "
            "resamples)",
            ["dimension", "ICC [95% CI]", "counselors", "clients", "sessions",
             "counselor var", "client var", "session var"],
            rows,
        ),
    )  # fmt: skip
    for dimension in effects.dimensions:
        own = [c for c in effects.counselors if c.dimension == dimension.dimension]
        if not own:
            continue
        body = [
            [c.counselor_id, str(c.clients), str(c.sessions), _number(c.client_mean),
             _interval(c.client_estimate, c.client_low, c.client_high), str(c.paired_sessions),
             _number(c.gap_mean), _interval(c.gap_estimate, c.gap_low, c.gap_high)]
            for c in own
        ]  # fmt: skip
        _print(
            _table(
                f"{dimension.dimension}: per counselor, largest overestimation first "
                "(gap = counselor minus client; shrunken = empirical Bayes, 95% interval)",
                ["counselor", "clients", "sessions", "client mean", "client mean, shrunken",
                 "paired sessions", "gap", "gap, shrunken"],
                body,
            )
        )  # fmt: skip
    for note in effects.notes:
        _print(f"warning: {note}")
    for effect in effects.dimensions:
        for warning in effect.warnings:
            _print(f"warning: {effect.dimension}: {warning}")
    _print(LEADS)


@alliance_app.command("counselors")
def counselors_command(
    dimension: DimensionOption = None,
    samples: Annotated[
        int, typer.Option(help="Bootstrap resamples of the ICC's interval (0: no interval).")
    ] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap, so reruns agree.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Counselor effects: the ICC (share of client-rated alliance variance between
    counselors) per dimension, and each counselor's shrunken mean client rating and
    counselor-minus-client gap. For leads: reads every counselor's data."""
    from annotate.core.errors import ConfigError
    from annotate.research.counselors import counselor_effects

    if samples < 0:
        raise ConfigError(f"--samples must be 0 or more, not {samples}")
    effects = counselor_effects(engine(), dimension, samples=samples, seed=seed)
    if as_json:
        print_json(effects.as_json())
        return
    show_effects(effects)


def _points(points: list[tuple[int, int | None, float | None, float | None]]) -> str:
    return " → ".join(_number(client) for _, _, client, _ in points)


def show_watch(watch: Watch) -> None:
    """Thresholds per dimension, the flags, then every client, flagged clients first."""
    thresholds = [
        [r.dimension, f"{_number(r.alpha)} ({r.alpha_source})",
         f"{_number(r.sd)} (n={r.sd_clients})", _number(r.se_diff, 3), _number(r.threshold, 3)]
        for r in watch.reliability
    ]  # fmt: skip
    flags = [
        [f.client_id, f.counselor_id, f.session_id, "-" if f.session_number is None
         else str(f.session_number), f.dimension, _number(f.score), f.compared_to,
         _number(f.reference), _number(f.drop), _number(f.threshold, 3),
         f"{_number(f.counselor_reference)} → {_number(f.counselor_score)}",
         {True: "yes", False: "no", None: "unknown"}[f.missed]]
        for f in watch.flags
    ]  # fmt: skip
    order = [r.dimension for r in watch.reliability]
    clients = [
        [t.client_id, ", ".join(t.counselors), str(t.sessions), str(t.flags), str(t.missed),
         *(_points(t.trajectory.get(d, [])) for d in order)]
        for t in watch.clients
    ]  # fmt: skip
    _print(
        watch.meaning,
        _table(
            "Reliable change threshold per dimension (1.96 x SD x sqrt(2) x sqrt(1 - alpha); "
            "SD of first-session client scores)",
            ["dimension", "alpha", "SD", "SE diff", "threshold"],
            thresholds,
        ),
    )  # fmt: skip
    if flags:
        _print(
            _table(
                f"Flagged sessions (baseline: mean of the first {watch.baseline} session(s))",
                ["client", "counselor", "session", "number", "dimension", "score",
                 "compared to", "from", "drop", "threshold", "counselor's rating",
                 "missed"],
                flags,
            )
        )  # fmt: skip
    else:
        _print("No session is flagged: no client's rating fell by more than the threshold.")
    if clients:
        _print(
            _table(
                "Clients, not on track first (client-rated scores in session order)",
                ["client", "counselor", "sessions", "flags", "missed", *order],
                clients,
            )
        )  # fmt: skip
    else:
        _print("No client has a complete set of ratings on these dimensions yet.")
    for note in watch.notes():
        _print(f"warning: {note}")
    _print(LEADS)


def flagged_lines(store: Any) -> list[str]:
    """Plain lines naming each client not on track (for ``annotate progress``); none when
    no client is flagged or the thresholds cannot be set."""
    from annotate.research.watch import not_on_track

    watch = not_on_track(store)
    flagged = [track for track in watch.clients if track.flags]
    if not flagged:
        return []
    lines = [f"Clients not on track: {len(flagged)} (a reliable drop in the client's own "
             "alliance rating; details: annotate alliance watch)"]  # fmt: skip
    for track in flagged:
        sessions: dict[str, list[str]] = {}
        for flag in (f for f in watch.flags if f.client_id == track.client_id):
            number = str(flag.session_number or flag.visit)
            dimensions = sessions.setdefault(number, [])
            if flag.dimension not in dimensions:
                dimensions.append(flag.dimension)
        where = "; ".join(f"session {n}: {', '.join(d)}" for n, d in sessions.items())
        unknown = f", {track.unknown} without a counselor rating" if track.unknown else ""
        counselors = ", ".join(track.counselors)
        lines.append(f"  {track.client_id} ({counselors}): {where}; missed by the counselor "
                     f"in {track.missed} of {track.flags} flags{unknown}")  # fmt: skip
    return lines


@alliance_app.command("watch")
def watch_command(
    dimension: DimensionOption = None,
    reliability: Annotated[
        float | None,
        typer.Option(
            "--reliability",
            help="A stated reliability (alpha, between 0 and 1) instead of Cronbach's "
            "alpha of the store's client ratings.",
            show_default=False,
        ),
    ] = None,
    baseline: Annotated[
        int, typer.Option("--baseline", help="Sessions whose mean is a client's baseline.")
    ] = 1,
    client: Annotated[
        str | None, typer.Option("--client", help="Only this client.", show_default=False)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Clients not on track: sessions whose client-rated alliance fell by more than the
    reliable change index, and whether the counselor's own rating fell too. For leads:
    reads every counselor's data."""
    from annotate.research.watch import not_on_track

    watch = not_on_track(engine(), reliability=reliability, baseline=baseline,
                         dimension=dimension, client=client)  # fmt: skip
    if as_json:
        print_json(watch.as_json())
        return
    show_watch(watch)


def register(app: typer.Typer) -> None:
    app.add_typer(alliance_app, name="alliance")
