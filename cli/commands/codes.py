"""``annotate codes``: turn coding with a marker scheme (3RS by default).

``load`` installs a scheme file, ``assign`` hands out sessions to code (with blind
second coders and reviewers), ``list`` shows the codings, ``review`` passes or sends
back a submitted coding, ``agreement`` gives alpha per code family and how often coders
take the proposals of ``annotate draft --markers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from annotate.core.plurals import counted
from cli.commands._common import engine, install_file, print_json

SchemeOption = Annotated[str, typer.Option(help="The marker scheme (its id).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]

codes_app = typer.Typer(
    help="Turn coding (3RS rupture and repair markers): schemes, assignment, reviews, agreement.",
    no_args_is_help=True,
)


@codes_app.command("load")
def load_command(
    file: Annotated[Path, typer.Argument(help="A marker scheme TOML file.", show_default=False)],
) -> None:
    """Load or update a marker scheme (like guidelines/markers/3rs.toml)."""
    from annotate.core.guidelines import load_markers
    from annotate.core.markers import install_markers
    from store.db import session_scope

    spec = load_markers(file)

    def install() -> bool:
        with session_scope(engine()) as session:
            return install_markers(session, spec)

    changed = install_file(file, install)
    state = "loaded" if changed else "unchanged"
    typer.echo(f"{spec.id} {spec.version} ({counted(len(spec.codes), 'code')}): {state}")


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


@codes_app.command("assign")
def assign_command(
    coders: Annotated[
        str, typer.Option(help="Comma-separated coder names, e.g. ana,ben.", show_default=False)
    ],
    session: Annotated[
        list[str] | None,
        typer.Option("--session", help="Only this session (repeat for more).", show_default=False),
    ] = None,
    second: Annotated[
        float,
        typer.Option(help="Share of sessions that also get a blind second coder (0..1)."),
    ] = 0.0,
    review: Annotated[
        bool, typer.Option("--review", help="Also name a reviewer for each primary coding.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the assignment, so reruns agree.")] = 0,
    scheme: SchemeOption = "3rs",
    as_json: JsonOption = False,
) -> None:
    """Hand out sessions to code: one primary coder each, some double-coded blind."""
    from dataclasses import asdict

    from annotate.work.codings import assign_codings

    result = assign_codings(engine(), _names(coders), sessions=session or None,
                            second_fraction=second, reviewers=review, seed=seed,
                            scheme_id=scheme)  # fmt: skip
    if as_json:
        print_json(asdict(result))
        return
    typer.echo(
        f"assigned {counted(result.primary, 'session')} to code, "
        f"{counted(result.second, 'blind second coding')}, {counted(result.reviews, 'review')}; "
        f"{result.skipped} already had a coder"
    )


@codes_app.command("list")
def list_command(
    coder: Annotated[
        str | None, typer.Option(help="Only this coder's codings.", show_default=False)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The codings: session, coder, role, status, codes and open proposals."""
    from annotate.work.codings import coders as all_coders
    from annotate.work.codings import coding_queue

    store = engine()
    coders = all_coders(store) if coder is None else [coder]
    rows = [
        {"coding": t.coding_id, "session": t.session_id, "coder": name, "role": t.role,
         "status": t.status, "codes": t.codes, "proposals_open": t.suggestions}
        for name in coders for t in coding_queue(store, name)
    ]  # fmt: skip
    if as_json:
        print_json({"codings": rows})
        return
    import pandas as pd

    from cli.commands._common import show_table

    columns = ["coding", "session", "coder", "role", "status", "codes", "proposals_open"]
    show_table(pd.DataFrame(rows, columns=columns), "Codings")


@codes_app.command("review")
def review_command(
    coding: Annotated[int, typer.Argument(help="The coding's number (see 'codes list').")],
    reviewer: Annotated[str, typer.Option(help="Your name.", show_default=False)],
    passed: Annotated[
        bool,
        typer.Option("--pass/--send-back", help="Accept the codes, or send them back."),
    ],
    comment: Annotated[
        str | None, typer.Option(help="What to change (needed with --send-back).")
    ] = None,
) -> None:
    """Pass or send back a submitted coding (its current version)."""
    from annotate.work.codings import review_coding

    status = review_coding(engine(), coding, reviewer, None, passed, comment)
    typer.echo(f"coding {coding}: {status.replace('_', ' ')}")


@codes_app.command("agreement")
def agreement_command(
    samples: Annotated[
        int, typer.Option(min=0, help="Bootstrap resamples for the 95% interval.")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 20080101,
    scheme: SchemeOption = "3rs",
    as_json: JsonOption = False,
) -> None:
    """Krippendorff's alpha (nominal) per code family, and acceptance of proposals."""
    from annotate.analysis._data import records
    from annotate.analysis.codes import acceptance, code_agreement
    from cli.commands._common import show_table

    store = engine()
    alpha = code_agreement(store, scheme, samples, seed)
    taken = acceptance(store, scheme)
    if as_json:
        print_json({"scheme": scheme, "bootstrap_samples": samples, "seed": seed,
                    "alpha": records(alpha), "acceptance": records(taken)})  # fmt: skip
        return
    show_table(
        alpha.drop(columns="note"),
        f"Code agreement per family: Krippendorff's alpha (nominal), 95% bootstrap CI "
        f"({samples} resamples, seed {seed}); units are turns of double-coded sessions",
    )
    for family, note in zip(alpha["family"], alpha["note"], strict=True):
        if isinstance(note, str):
            typer.echo(f"{family}: {note}")
    show_table(taken, "Proposals accepted and rejected, per code and proposer")


def register(app: typer.Typer) -> None:
    app.add_typer(codes_app, name="codes")
