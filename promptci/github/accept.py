"""A maintainer's acceptance of an inconclusive verdict (docs/github.md, "When the gate cannot decide").

An inconclusive verdict (a budget stopped the gate before it could show head worse, or not worse) sets the
required `promptci` status to failure: branch rules, auto-merge and merge queues read only the state, so anything
else would merge unreviewed changes. Someone with write access accepts it by applying the `promptci-accept` label,
which re-runs the gate on the `labeled` event; that run sets `promptci` to success on that head commit only if the
verdict is still inconclusive and GitHub says the labeler (the event's sender, set by GitHub, not by the pull
request) may write to the repository. A status belongs to one commit, so a push after the label is gated afresh
and the label no longer counts: a maintainer applies it again to accept the new code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .actions import Actions, read_payload
from .client import APIError, Client
from .overall import ACCEPT_LABEL

WRITE = ("admin", "maintain", "write")  # role names; `permission` maps maintain to write


@dataclass(frozen=True)
class Acceptance:
    by: str = ""  # the login that accepted this commit ("" when none did)
    note: str = ""  # why a label that is there does not accept (for the status and the log)


NONE = Acceptance()


def labeled(path: Path | None) -> tuple[str, list[str]]:
    """The login that applied the accept label in this event ('' for any other event), and the pull request's
    labels now."""
    if path is None:
        return "", []
    payload = read_payload(path, "pull_request")
    pr, label, sender = (_object(payload, k) for k in ("pull_request", "label", "sender"))
    labels = [str(x.get("name")) for x in pr.get("labels") or [] if isinstance(x, dict)]
    if payload.get("action") == "labeled" and label.get("name") == ACCEPT_LABEL:
        return str(sender.get("login") or ""), labels
    return "", labels


def _object(payload: dict, field: str) -> dict:
    value = payload.get(field)
    return value if isinstance(value, dict) else {}


def may_write(client: Client, repo: str, login: str) -> bool:
    """Whether GitHub says `login` may write to `repo` (a 404: not a collaborator at all)."""
    try:
        found = client.request("GET", f"/repos/{repo}/collaborators/{quote(login, safe='')}/permission")
    except APIError as exc:
        if exc.status == 404:
            return False
        raise
    return found.get("permission") in WRITE or found.get("role_name") in WRITE


def acceptance(actions: Actions, client: Client) -> Acceptance:
    """Who accepted the tested head commit's inconclusive verdict, if anyone may have."""
    if actions.event_name != "pull_request" or actions.pr is None:
        return NONE
    by, labels = labeled(actions.event_path)
    if by and may_write(client, actions.pr.repo, by):
        return Acceptance(by=by)
    if by:
        return Acceptance(note=f"@{by} applied {ACCEPT_LABEL} but has no write access: it does not accept")
    if ACCEPT_LABEL in labels:
        return Acceptance(
            note=f"{ACCEPT_LABEL} was applied to an earlier commit and accepts only that one: remove it and "
            "apply it again to accept this commit"
        )
    return NONE
