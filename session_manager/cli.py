"""The `session-manager` command: list, show, rm, export, import, doctor, gc, serve, install, demo.

Thin on purpose: the store, doctor and the demo host do the work; this module parses
options, prints tables or JSON, and turns the core's named errors into one line on
stderr with a non-zero exit status.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import platformdirs

from . import __version__, formats
from .choices import CHOICES, DOCUMENT_SUFFIX, FORMATS, TRAINING_FORMATS
from .errors import AmbiguousSession, NotFound, SessionManagerError
from .models import Checkpoint, CheckpointMark, utcnow
from .plain import clip, plain, quoted
from .settings import APP_NAME, DATA_DIR_ENV, SettingsManager, default_data_dir, load_shipped
from .store import SearchHit, SessionStore, SessionSummary, locking
from .units import human_bytes

if TYPE_CHECKING:
    from .formats import Progress
    from .store.doctor import Finding

EXTENSION_NAME = "session_manager"
DEMO_PORT = 7861
SERVE_PORT = 7862
NAME_WIDTH = 40
PROGRESS_EVERY = 1.0  # seconds between progress lines under --json
_SURROGATE = re.compile("[\ud800-\udfff]")
LIST_PAGE = 100  # sessions `list` prints unless asked for more
EXPORT_FORMATS = (*FORMATS, "html", *TRAINING_FORMATS)
_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
# Never copied into textgen: environments, caches and VCS data can be gigabytes.
COPY_IGNORE = (".git", ".venv", "venv", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "*.egg-info",
               "build", "dist", "node_modules")


def extension_source() -> Path:
    """The repository root, which is the textgen extension folder (it holds script.py)."""
    return Path(__file__).resolve().parents[1]


def resolve_session(store: SessionStore, query: str) -> SessionSummary:
    """An id, else an exact name, else a case-insensitive name, else a unique id prefix."""
    return store.find_session(query)


# ----- command group ----------------------------------------------------------------------


class _Failure(click.ClickException):
    """Printed as "Error: ..." on stderr; the exit status is chosen per error."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(_plain_lines(message))
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class; ours varies per error


class _Group(click.Group):
    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        # `--data-dir` works after the subcommand too (`session-manager list --data-dir X`).
        if not any("--data-dir" in getattr(param, "opts", ()) for param in cmd.params):
            cmd.params.append(click.Option(["--data-dir"], type=click.Path(file_okay=False, path_type=Path),
                                           expose_value=False, callback=_data_dir_here,
                                           help="Store folder (overrides the one given before the command)."))
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AmbiguousSession as exc:
            raise _Failure(str(exc), exit_code=2) from exc
        except SessionManagerError as exc:
            raise _Failure(str(exc)) from exc


@dataclass
class _Env:
    root: Path

    def store(self) -> SessionStore | None:
        """The store, or None when its folder does not exist (read-only commands create nothing)."""
        if not self.root.exists():
            return None
        store = SessionStore(self.root)
        ctx = click.get_current_context()
        # Files the store sets aside while reading are reported, never dropped silently.
        ctx.call_on_close(lambda: _warn_problems(store))
        _show_indexing(ctx, store)
        return store


def _show_indexing(ctx: click.Context, store: SessionStore) -> None:
    """A progress bar on a terminal while the index is rebuilt (a new store, a deleted index.sqlite)."""
    update = ctx.with_resource(_progress("Indexing sessions", quiet=False))
    if update is not None:
        store.upkeep.indexing.listeners.append(update)


def _data_dir_here(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_object(_Env).root = value.expanduser()  # type: ignore[union-attr]  # made by the group


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name=APP_NAME)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Store folder (default: ${DATA_DIR_ENV}, else {platformdirs.user_data_dir(APP_NAME)}). "
                   "textgen's store is text-generation-webui/user_data/session_manager.")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None) -> None:
    """Sessions and checkpoints of text-generation-webui's Session Manager extension."""
    ctx.obj = _Env(root=data_dir.expanduser() if data_dir else default_data_dir())
    # A write that waits for another program's lock says so after a second, instead of seeming to hang.
    locking.on_wait(lambda text: click.echo(_plain_lines(f"Note: {text}"), err=True))


def main() -> None:
    cli(prog_name=APP_NAME)


# ----- list / show / rm -------------------------------------------------------------------


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--search", "-s", default=None, metavar="WORDS",
              help="Only sessions with every word (or the start of one) in their name, tags, notes or latest text; "
                   "best matches first, each with the place it matched.")
@click.option("--tag", default=None, help="Only sessions with this tag.")
@click.option("--model", default=None, help="Only sessions whose latest state used a model whose name contains this.")
@click.option("--mode", type=click.Choice(["default", "notebook", "chat"]), default=None, help="Only this mode.")
@click.option("--since", type=click.DateTime(_DATE_FORMATS), default=None, help="Changed on or after (local time).")
@click.option("--until", type=click.DateTime(_DATE_FORMATS), default=None, help="Changed before (local time).")
@click.option("--limit", "-n", type=click.IntRange(1), default=LIST_PAGE, show_default=True,
              help="Show at most this many sessions (the most recent, or the best matches).")
@click.option("--all", "everything", is_flag=True, help="Every session, printed as it is read.")
@click.pass_obj
def list_command(env: _Env, as_json: bool, search: str | None, tag: str | None, model: str | None,
                 mode: str | None, since: datetime | None, until: datetime | None, limit: int,
                 everything: bool) -> None:
    """Sessions, most recently changed first (the first 100; --limit or --all for more)."""
    store = env.store()
    rows: Iterable[SessionSummary] = []
    filtered = bool(search or tag or model or mode or since or until)
    shown = None if everything else limit
    if store is not None:
        if filtered:
            rows = store.search(search or "", tag=tag, model=model, mode=mode, since=since,  # type: ignore[arg-type]
                                until=until, limit=shown)
        else:
            rows = store.iter_sessions() if everything else store.list_sessions(limit=shown)
        for session_id, why in store.hidden_sessions():
            click.echo(_plain_lines(f"Warning: session {session_id} is not listed: {why}"), err=True)
    count = _print_rows(rows, as_json, bool(search), fixed=everything)
    if as_json:
        return
    if not count:
        if filtered and store is not None and store.count_sessions():
            click.echo(f"No session matches {plain(_filters_text(search, tag, model, mode, since, until))}.")
        else:
            click.echo(f"No sessions yet. The store is at {plain(str(env.root))}")
    elif store is not None and not filtered and count == shown and (total := store.count_sessions()) > count:
        click.echo(f"Showing the {count} most recent of {total} sessions; --limit N or --all for more.", err=True)


def _print_rows(rows: Iterable[SessionSummary], as_json: bool, snippets: bool, fixed: bool) -> int:
    """Print the rows a page at a time (a long list starts at once); returns how many there were."""
    count = 0
    for page in _pages(rows, 1000):
        if as_json:
            # One session per line, spliced from the stored JSON: 10,000 sessions print in milliseconds.
            click.echo(("[\n" if not count else ",\n") + ",\n".join(f"  {row.to_json()}" for row in page), nl=False)
        else:
            click.echo(_session_table(page, snippets, header=not count, fixed=fixed))
        count += len(page)
    if as_json:
        click.echo("\n]" if count else "[]")
    return count


def _session_table(rows: list[SessionSummary], snippets: bool, header: bool, fixed: bool) -> str:
    table = [[row.id, clip(row.meta.name), row.meta.mode, str(row.n_checkpoints), human_bytes(row.kv_bytes),
              _local(row.meta.updated)] for row in rows]
    widths = [22, NAME_WIDTH, 8, 11, 9, 16] if fixed else None
    lines = _table(["ID", "NAME", "MODE", "CHECKPOINTS", "KV", "LAST CHANGE"], table, right={3, 4},
                   widths=widths).split("\n")
    if snippets:
        notes = ["    " + plain(clip(row.marked("«", "»"), 110)) if isinstance(row, SearchHit) else ""
                 for row in rows]
        lines = [lines[0]] + [line for pair in zip(lines[1:], notes, strict=True) for line in pair if line]
    return "\n".join(lines if header else lines[1:])


def _pages(rows: Iterable[SessionSummary], size: int) -> Iterator[list[SessionSummary]]:
    page: list[SessionSummary] = []
    for row in rows:
        page.append(row)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


@cli.command()
@click.argument("session")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.pass_obj
def show(env: _Env, session: str, as_json: bool) -> None:
    """A session's fields and checkpoints. SESSION: an id, a name or a unique id prefix."""
    store = _existing_store(env, session)
    row = resolve_session(store, session)
    meta = row.meta
    checkpoints = store.list_checkpoints(meta.id)
    autosave = store.read_autosave(meta.id)
    marks = store.marks(meta.id).marks
    present = {cp.id for cp in checkpoints if store.has_kv(meta.id, cp)}
    if as_json:
        doc = {"session": _summary_dict(row),
               "autosave": _checkpoint_dict(autosave, False) if autosave else None,
               "checkpoints": [_checkpoint_dict(cp, cp.id in present, marks.get(cp.id)) for cp in checkpoints]}
        click.echo(_json_text(doc))
        return
    fields = [("name", meta.name), ("id", meta.id), ("mode", meta.mode), ("created", _local(meta.created)),
              ("last change", _local(meta.updated)), ("checkpoints", str(len(checkpoints))),
              ("KV snapshots", human_bytes(row.kv_bytes))]
    if meta.parent is not None:
        fields.append(("branched from", f"{meta.parent.session} / {meta.parent.checkpoint or '-'}"))
    if meta.tags:
        fields.append(("tags", ", ".join(meta.tags)))
    if meta.notes:
        fields.append(("notes", meta.notes))
    if autosave is not None:
        fields.append(("autosave", f"{_local(autosave.created)}, {_chars(autosave)} chars"))
    width = max(len(key) for key, _ in fields)
    click.echo("\n".join(f"{key:<{width}}  {plain(value)}" for key, value in fields))
    if not checkpoints:
        click.echo("\nNo checkpoints yet.")
        return
    table = [[cp.id, _local(cp.created, seconds=True), cp.trigger, clip(_mark_label(cp, marks.get(cp.id)), 30),
              str(_chars(cp)), _kv_cell(cp, cp.id in present), clip(cp.model.name or "-", 30)] for cp in checkpoints]
    click.echo("")
    click.echo(_table(["CHECKPOINT", "TIME", "TRIGGER", "LABEL", "CHARS", "KV", "MODEL"], table, right={4}))


@cli.command()
@click.argument("session")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def rm(env: _Env, session: str, yes: bool) -> None:
    """Delete a session with its checkpoints and KV snapshots."""
    store = _existing_store(env, session)
    meta = resolve_session(store, session).meta
    count = len(store.checkpoint_ids(meta.id))
    what = f"session {plain(meta.name)!r} ({count} checkpoint{'' if count == 1 else 's'})"
    if not yes:
        if not _stdin_is_tty():
            raise _Failure(f"not deleting {what} without confirmation: no terminal to ask on; add --yes")
        if not click.confirm(f"Delete {what}?", default=False):
            click.echo("Nothing deleted.", err=True)
            raise SystemExit(1)
    store.delete_session(meta.id)
    click.echo(f"Deleted {what} [{meta.id}].")


@cli.command("export")
@click.argument("sessions", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every session.")
@click.option("--tag", default=None, help="Sessions with this tag.")
@click.option("--search", "-s", default=None, metavar="WORDS", help="Sessions matching every word.")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="zip", show_default=True,
              help="zip: the sessions with their KV snapshots, imports back whole (one zip for many). json, jsonl: "
                   "one file per session. markdown, html: to read. messages, sharegpt, completion: one JSONL "
                   "file of training samples.")
@click.option("--no-kv", is_flag=True, help="zip: leave the KV snapshots out.")
@click.option("--checkpoints", "choose", multiple=True, type=click.Choice(CHOICES),
              help="Which checkpoints (repeatable): latest, stops, pinned, all. Training default: latest; "
                   "markdown and html: all.")
@click.option("--metadata", is_flag=True, help="Training: add each sample's session, parameters and model.")
@click.option("--to", "dest", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to write into.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (zip of many sessions and training formats).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON (no progress bar).")
@click.pass_obj
def export_command(env: _Env, sessions: tuple[str, ...], everything: bool, tag: str | None, search: str | None,
                   fmt: str, no_kv: bool, choose: tuple[str, ...], metadata: bool, dest: Path, output: Path | None,
                   as_json: bool) -> None:
    """Export sessions: SESSION... (ids, names or id prefixes), --tag, --search or --all.

    \b
    session-manager export "My story"                       one session, zip with KV snapshots
    session-manager export --all --no-kv -o backup.zip      every session in one zip
    session-manager export --tag fiction --format html      one page per session
    session-manager export --all --format sharegpt --checkpoints stops --metadata -o data.jsonl
    """
    store = env.store()
    if store is None:
        raise NotFound(f"there is no store at {env.root} yet: nothing to export")
    ids = _chosen_sessions(store, sessions, everything, tag, search, oldest_first=fmt in TRAINING_FORMATS)
    # One session named alone keeps the single-session zip (the session folder, KV included).
    one_folder = fmt == "zip" and len(sessions) == len(ids) == 1 and not (everything or tag or search or no_kv
                                                                          or output)
    with _progress("Exporting", quiet=as_json) as progress:
        written = _export(store, ids, "folder-zip" if one_folder else fmt, no_kv, choose, metadata, dest, output,
                          progress)
    if as_json:
        doc: dict[str, Any] = {"format": fmt, "sessions": len(ids), "files": [str(p) for p, _, _ in written]}
        for _, _, counts in written:
            doc.update(counts)
        click.echo(_json_text(doc))
        return
    for _, line, _ in written:
        click.echo(_plain_lines(line))


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (no progress bar).")
@click.pass_obj
def import_command(env: _Env, paths: tuple[Path, ...], as_json: bool) -> None:
    """Import sessions from files or folders; the format is told by the content.

    \b
    Reads: this tool's zip and json exports; the original session_manager
    extension's session files; textgen's prompts (.txt) and chats (.json), or a
    whole textgen folder; SillyTavern chats (.jsonl); Open WebUI exports (.json);
    training JSONL (messages, ShareGPT, prompt/completion). A folder that is not
    textgen's gives the files in it. What was imported before is not imported again.
    Exit status 1 when a file could not be imported.
    """
    store = SessionStore(env.root)
    with _progress("Importing", quiet=as_json) as progress:
        report = formats.import_paths(store, list(paths), progress)
    if as_json:
        _echo_report(report)
    else:
        for item in report.items:
            where = f" [{item.session_id}]" if item.status == "imported" and item.session_id else ""
            click.echo(_plain_lines(f"{item.status:<9}{item.message}{where}"))
        click.echo(report.summary())
    if report.failed:
        raise SystemExit(1)


# ----- doctor -----------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.option("--quick", is_flag=True, help="Check only the headers of KV snapshots, not every byte.")
@click.pass_obj
def doctor(env: _Env, as_json: bool, quick: bool) -> None:
    """Verify every file, set broken ones aside into <store>/broken/, clean up after crashes.

    Exit status 0 when all is well, 1 when something was broken.
    """
    from .store.doctor import check_store, has_errors  # loaded by this command only: `list` stays quick

    findings: list[Finding] = []
    sessions = 0
    if env.root.exists():
        store = SessionStore(env.root)
        ctx = click.get_current_context()
        _show_indexing(ctx, store)
        findings = check_store(store, deep=not quick,
                               progress=ctx.with_resource(_progress("Checking sessions", quiet=as_json)))
        sessions = store.count_sessions()
    failed = has_errors(findings)
    if as_json:
        doc = {"root": str(env.root), "ok": not failed, "sessions": sessions,
               "findings": [finding.to_dict() for finding in findings]}
        click.echo(_json_text(doc))
    else:
        for finding in findings:
            click.echo(_finding_line(finding, env.root))
        if not env.root.exists():
            click.echo(f"There is no store at {plain(str(env.root))} yet; nothing to check.")
        elif failed:
            click.echo(f"Checked {sessions} readable session(s) in {plain(str(env.root))}: problems were found "
                       f"(broken files are kept in {plain(str(env.root / 'broken'))}).")
        else:
            click.echo(f"Checked {sessions} session(s) in {plain(str(env.root))}: all is well.")
    if failed:
        raise SystemExit(1)


@cli.command()
@click.option("--budget-mb", type=click.IntRange(0), default=None,
              help="Disk budget for KV snapshots (default: the kv_budget_mb setting of this store).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.pass_obj
def gc(env: _Env, budget_mb: int | None, as_json: bool) -> None:
    """Remove the oldest KV snapshots beyond the disk budget (pinned ones stay; text is never touched)."""
    store = env.store()
    if store is None:
        click.echo(f"There is no store at {plain(str(env.root))} yet; nothing to remove.")
        return
    if budget_mb is None:
        settings = SettingsManager(load_shipped())
        settings.attach_store(env.root)
        budget_mb = settings.current.kv_budget_mb
    evicted = store.evict_kv(budget_mb * 1024 * 1024)
    freed = sum(blob.size for blob in evicted)
    if as_json:
        click.echo(json.dumps({"budget_mb": budget_mb, "removed": len(evicted), "freed_bytes": freed}))
    else:
        click.echo(f"Removed {len(evicted)} KV snapshot(s), {human_bytes(freed)}, to stay within {budget_mb:,} MB."
                   if evicted else f"All KV snapshots fit within {budget_mb:,} MB; nothing removed.")


# ----- serve -------------------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --api-key.")
@click.option("--port", type=click.IntRange(1, 65535), default=SERVE_PORT, show_default=True)
@click.option("--api-key", envvar="SESSION_MANAGER_API_KEY", default=None,
              help="Clients must send 'Authorization: Bearer KEY' (also $SESSION_MANAGER_API_KEY).")
@click.pass_obj
def serve(env: _Env, host: str, port: int, api_key: str | None) -> None:
    """Serve the sessions HTTP API over this store (docs at /docs); restores need textgen's --api instead."""
    try:
        from .api.serve import address, bind_problem, run
    except ImportError as exc:
        raise _Failure(f"the API needs {getattr(exc, 'name', None) or 'FastAPI'} ({exc}): "
                       "pip install 'session-manager[api]'") from exc
    problem = bind_problem(host, api_key)
    if problem:
        raise _Failure(problem)
    store = SessionStore(env.root)
    click.echo(f"Session Manager API at {address(host, port)} (docs: /docs), store {plain(str(env.root))}"
               + ("" if api_key else "; no API key (loopback only)"))
    run(store, host, port, api_key)


# ----- install / demo ---------------------------------------------------------------------


@cli.command()
@click.argument("textgen_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--copy", is_flag=True, help="Copy the extension instead of linking it.")
@click.option("--force", is_flag=True, help="Replace an existing different session_manager folder (it is kept "
                                              "as user_data/session_manager-replaced-<time>).")
def install(textgen_dir: Path, copy: bool, force: bool) -> None:
    """Put the extension into TEXTGEN_DIR/user_data/extensions/session_manager."""
    textgen_dir = textgen_dir.expanduser().resolve()
    if not _looks_like_textgen(textgen_dir):
        raise click.BadParameter(f"{textgen_dir} does not look like text-generation-webui (it has neither server.py "
                                 "with modules/extensions.py nor a user_data folder)", param_hint="TEXTGEN_DIR")
    source = extension_source()
    if not (source / "script.py").is_file():
        raise _Failure(f"the extension folder is not next to this package ({source} has no script.py), as happens "
                       "when it was installed from a wheel: clone the repository and run `session-manager install` "
                       "from its checkout (pip install -e .)")
    target = textgen_dir / "user_data" / "extensions" / EXTENSION_NAME
    message = _place_extension(source, target, copy=copy, force=force)
    requirements = target / "requirements.txt"
    click.echo(f"{message}\n\n"
               "To enable it, start textgen with\n"
               f"    --extensions {EXTENSION_NAME}\n"
               f"or tick {EXTENSION_NAME} in the Session tab and restart textgen.\n"
               f"Its requirements are in {requirements}:\n"
               f"    pip install -r {requirements}\n"
               "inside textgen's environment (textgen's update wizard also installs them).")


@cli.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A .gguf model (default: the embedded Gemma 3 270M).")
@click.option("--data-dir", "demo_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Store folder for the demo (default: the global --data-dir).")
@click.option("--port", type=click.IntRange(1, 65535), default=DEMO_PORT, show_default=True)
@click.option("--no-browser", is_flag=True, help="Do not open a browser tab.")
@click.pass_obj
def demo(env: _Env, model: Path | None, demo_dir: Path | None, port: int, no_browser: bool) -> None:
    """Start the standalone demo host (textgen's Default and Notebook views with the panel)."""
    try:
        host = importlib.import_module("session_manager.hosts.demo")
    except ImportError as exc:
        raise _Failure(_missing_for_demo(exc)) from exc
    try:
        host.run(model=model, data_dir=(demo_dir.expanduser() if demo_dir else env.root), port=port,
                 open_browser=not no_browser)
    except ModuleNotFoundError as exc:  # the engine and model packages are imported on first use
        raise _Failure(_missing_for_demo(exc)) from exc


# ----- helpers ----------------------------------------------------------------------------


def _chosen_sessions(store: SessionStore, sessions: tuple[str, ...], everything: bool, tag: str | None,
                     search: str | None, oldest_first: bool = False) -> list[str]:
    named = [resolve_session(store, query).meta.id for query in sessions]
    rows = formats.select_sessions(store, named, tag=tag, search=search, everything=everything)
    if not rows:
        if not (sessions or everything or tag or search):
            raise click.UsageError("name a session, or choose them with --tag, --search or --all")
        raise NotFound("no session matches" + (f" the tag {quoted(tag)}" if tag else "") +
                       (f" the search {quoted(search)}" if search else ""))
    if oldest_first:  # training data in the order it was made (an imported file's samples in its own order)
        rows = sorted(rows, key=lambda row: (row.meta.created, row.meta.id))
    return [row.meta.id for row in rows]


def _export(store: SessionStore, ids: list[str], fmt: str, no_kv: bool, choose: tuple[str, ...], metadata: bool,
            dest: Path, output: Path | None, progress: Progress | None) -> list[tuple[Path, str, dict[str, Any]]]:
    """(file, line to print, counts for --json) for every file written; ``folder-zip`` is session_archive's zip of one
    session."""
    from .formats import session_archive  # here: `list` and `show` never need the writers

    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    if fmt in TRAINING_FORMATS:
        target = output or dest / f"training-{fmt}-{stamp}.jsonl"
        done = formats.export_training(store, ids, target, fmt, choose or ("latest",), metadata, progress)
        return [(done.path, done.summary(), done.counts())]
    if fmt == "zip":
        bulk = formats.export_bulk(store, ids, output or dest / f"sessions-{stamp}.zip", not no_kv, progress)
        return [(bulk.path, bulk.summary(), {})]
    if output is not None:
        raise click.UsageError(f"--output needs one file; --format {fmt} writes one file per session: use --to")
    dest.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, str, dict[str, Any]]] = []
    for done_count, session_id in enumerate(ids):
        name = store.get_session(session_id).name
        if progress:
            progress(done_count, len(ids), name)
        if fmt in DOCUMENT_SUFFIX:
            path = formats.export_document(store, session_id, dest, fmt, choose or ("all",))
        else:
            path = session_archive.export_session(store, session_id, dest, "zip" if fmt == "folder-zip" else fmt)  # type: ignore[arg-type]
        written.append((path, f"Exported {name!r} to {path}", {}))
    return written


@contextlib.contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal; with --json, a line on stderr each second of a long run
    (stdout keeps only the JSON); nothing in a pipe."""
    if quiet:
        yield _progress_lines(label)
        return
    if not _stderr_is_tty():
        yield None
        return
    bars: list[Any] = []

    def update(done: int, total: int, what: str) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True,
                                          item_show_func=lambda item: clip(plain(item or ""), 40)))
            bars[0].__enter__()
        if bars[0].length != total:  # one large file: its sessions become the steps
            bars[0].length, bars[0].pos = total, 0
        moved = done - bars[0].pos
        bars[0].update(moved, current_item=what)
        if not moved:  # news at the same place (more checkpoints read of a file read ahead): show it too
            bars[0].render_progress()

    try:
        yield update
    finally:
        if bars:
            bars[0].__exit__(None, None, None)


def _progress_lines(label: str) -> Progress:
    """Progress as plain lines on stderr, the first after a second, then at most one a second."""
    started = time.monotonic()
    shown = [started]

    def update(done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if now - shown[0] >= PROGRESS_EVERY and total:
            shown[0] = now
            click.echo(_plain_lines(f"{label}: {done:,}/{total:,} {clip(what, 60)}".rstrip()), err=True)

    return update


def _stderr_is_tty() -> bool:
    return sys.stderr is not None and sys.stderr.isatty()


def _stdin_is_tty() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _existing_store(env: _Env, session: str) -> SessionStore:
    store = env.store()
    if store is None:
        raise NotFound(f"there is no session {session!r}: there is no store at {env.root} yet")
    return store


def _warn_problems(store: SessionStore) -> None:
    for problem in store.problems:
        click.echo(_plain_lines(f"Warning: {problem}"), err=True)


def _summary_dict(row: SessionSummary) -> dict[str, Any]:
    return row.to_dict()


def _checkpoint_dict(cp: Checkpoint, kv_present: bool, mark: CheckpointMark | None = None) -> dict[str, Any]:
    kv = None
    if cp.kv is not None:
        kv = {"tokens": cp.kv.n_tokens, "bytes": cp.kv.bytes, "backend": cp.kv.backend, "present": kv_present}
    return {"id": cp.id, "created": cp.created.isoformat(), "mode": cp.mode, "trigger": cp.trigger,
            "label": _mark_label(cp, mark), "chars": _chars(cp), "input_chars": len(cp.input_text),
            "output_chars": len(cp.output_text), "kv": kv, "model": cp.model.name, "loader": cp.model.loader,
            "pinned": bool(mark and mark.pinned), "note": mark.note if mark else ""}


def _mark_label(cp: Checkpoint, mark: CheckpointMark | None) -> str:
    return mark.label if mark is not None and mark.label is not None else cp.label


def _filters_text(search: str | None, tag: str | None, model: str | None, mode: str | None,
                  since: datetime | None, until: datetime | None) -> str:
    parts = [quoted(search)] if search else []
    named = {"tag": tag, "model": model, "mode": mode, "since": since and since.strftime("%Y-%m-%d %H:%M"),
             "until": until and until.strftime("%Y-%m-%d %H:%M")}
    parts += [f"{key} {quoted(value)}" for key, value in named.items() if value]
    return ", ".join(parts)


def _chars(cp: Checkpoint) -> int:
    """Characters of the text a restore brings back (the output holds the prompt in textgen)."""
    if cp.history:
        return sum(len(part) for pair in cp.history.get("internal", []) if isinstance(pair, list)
                   for part in pair if isinstance(part, str))
    return len(cp.output_text or cp.input_text)


def _kv_cell(cp: Checkpoint, present: bool) -> str:
    if cp.kv is None:
        return "-"
    if not present:
        return "removed"
    return f"{cp.kv.n_tokens} tok, {human_bytes(cp.kv.bytes)}"


def _local(when: datetime, seconds: bool = False) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _finding_line(finding: Finding, root: Path) -> str:
    line = f"{finding.severity.upper():<8} {_relative(finding.path, root)}: {finding.problem}"
    if finding.action:
        action = finding.action
        if finding.moved_to is not None:
            action = f"moved to {_relative(finding.moved_to, root)}"
        line += f"\n         -> {action}"
    return _plain_lines(line)


def _relative(path: Path, root: Path) -> str:
    if path == root:
        return str(root)
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def _table(headers: list[str], rows: list[list[str]], right: set[int] | None = None,
           widths: list[int] | None = None) -> str:
    right = right or set()
    cells = [[plain(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells), *(widths[i:i + 1] if widths else ()))
              for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in cells)])


def _json_text(doc: Any) -> str:
    """JSON for stdout: a file name that is not valid UTF-8 (a lone surrogate here) is written as its JSON escape,
    so a strict UTF-8 stdout takes it and a JSON reader gets the very name back."""
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def _echo_report(report: formats.ImportReport) -> None:
    """The import report as JSON, written item by item: 100,000 sessions never sit in memory as one text."""
    head = {key: value for key, value in report.to_dict(items=False).items()}
    click.echo(_json_text(head)[:-2] + ',\n  "items": [', nl=False)
    for index, item in enumerate(report.items):
        text = json.dumps(item.to_dict(), ensure_ascii=False)
        click.echo(("," if index else "") + "\n    " + _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text),
                   nl=False)
    click.echo("\n  ]\n}" if report.items else "]\n}")



# Characters that could move the cursor, clear the screen or reorder text in a terminal.
def _plain_lines(text: str) -> str:
    return "\n".join(plain(line) for line in str(text).split("\n"))


def _looks_like_textgen(folder: Path) -> bool:
    has_code = (folder / "server.py").is_file() and (folder / "modules" / "extensions.py").is_file()
    return has_code or (folder / "user_data").is_dir()


def _place_extension(source: Path, target: Path, copy: bool, force: bool) -> str:
    """Link or copy ``source`` to ``target``; returns what was done, in words."""
    if target.is_symlink() or target.exists():
        if _same_place(target, source) and not (copy and target.is_symlink()):
            return f"Session Manager is already installed at {target} (it points to {source})."
        if not force:
            kind = "a link to " + os.readlink(target) if target.is_symlink() else "a different folder"
            raise _Failure(f"{target} already exists ({kind}); add --force to replace it "
                           f"(the old one is kept)")
        replaced = _move_out_of_the_way(target)
    else:
        replaced = None
    target.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        staging = target.with_name(f".{target.name}.installing-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            shutil.copytree(source, staging, symlinks=True, ignore=shutil.ignore_patterns(*COPY_IGNORE))
            os.replace(staging, target)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise _Failure(f"could not copy the extension to {target}: {exc.strerror or exc}") from exc
        done = f"Copied {source}\n    to {target}"
    else:
        try:
            target.symlink_to(source, target_is_directory=True)
        except OSError as exc:
            raise _Failure(f"could not create a link at {target} ({exc.strerror or exc}); try --copy") from exc
        done = f"Linked {target}\n    -> {source}"
    if replaced is not None:
        done += f"\nThe previous {target.name} is kept as {replaced}"
    return done


def _same_place(target: Path, source: Path) -> bool:
    try:
        return target.resolve(strict=True) == source.resolve()
    except OSError:
        return False


def _move_out_of_the_way(target: Path) -> Path | None:
    """A link is just removed; a real folder is moved to user_data/, where textgen does not load it."""
    if target.is_symlink():
        target.unlink()
        return None
    backup = target.parent.parent / f"{target.name}-replaced-{utcnow():%Y%m%dT%H%M%S}"
    try:
        os.replace(target, backup)
    except OSError as exc:
        raise _Failure(f"could not move {target} out of the way: {exc.strerror or exc}") from exc
    return backup


def _missing_for_demo(exc: ImportError) -> str:
    name = getattr(exc, "name", None) or "a package"
    hint = "pip install 'session-manager[demo]' (in a checkout: pip install -e '.[demo]'), or run ./scripts/demo.sh"
    if name.startswith("gemma3"):
        hint += ", or pass --model PATH.gguf"
    return f"the demo needs {name}, which could not be imported ({exc}): {hint}"


