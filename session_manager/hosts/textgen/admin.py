"""The administrator's view under --multi-user: a read-only summary of every user's store.

Off unless the ``admin_logins`` setting names logins (it is set only in settings.json or textgen's
settings.yaml, never from the panel). It shows per login the folder, how many sessions and
checkpoints it holds and its size on disk; never a session's name or text.
"""

from __future__ import annotations

from ...store.users import USERS_FOLDER, summaries
from ...units import human_bytes
from .multiuser import MultiUser

ABOUT = ("**All users (administrators).** For each login: its folder under `users/`, its number of sessions and "
         "checkpoints, and its size on disk. Nothing of what anyone wrote is shown here.")
NOT_ADMIN = "Only the logins named in the `admin_logins` setting see this summary."


def admin_summary(multi: MultiUser) -> str:
    """The summary as Markdown for the login whose event runs this, or why it is not shown."""
    if multi.current_login() not in multi.defaults.current.admin_logins:
        return NOT_ADMIN
    rows = summaries(multi.users.root)
    if not rows:
        return "No user has saved anything yet."
    lines = ["| login | folder | sessions | checkpoints | size |", "|---|---|---:|---:|---:|"]
    for row in rows:
        login = row.login.replace("|", "\\|").replace("`", "'")
        lines.append(f"| {login} | `{USERS_FOLDER}/{row.user_id}` | {row.sessions:,} | {row.checkpoints:,} | "
                     f"{human_bytes(row.bytes)} |")
    return "\n".join(lines)


def build_admin_view(multi: MultiUser) -> None:
    """Shown only when administrators are named; the summary comes only for them, on request."""
    if not multi.defaults.current.admin_logins:
        return
    import gradio as gr

    with gr.Accordion("All users (administrators)", open=False):
        gr.Markdown(ABOUT)
        show = gr.Button("Show the summary", elem_classes="sm-admin-show")
        summary = gr.Markdown("", elem_classes="sm-admin-summary")
    show.click(lambda: admin_summary(multi), None, summary, queue=False)
