"""Committing files to a pull request's branch without racing its author: GitHub's Git data API.

The contents API's only precondition is the file's blob, so an author who pushed meanwhile (without
touching the file) would get the stale file committed on top of their work. Here the new commit's
parent is the tested head, and the branch moves to it only as a fast-forward from that head
(`force: false`): if the branch is elsewhere, GitHub refuses (422) and nothing is committed. Blobs,
trees and commits made before a refusal or a crash are referenced by no branch, so they change nothing.
"""

from __future__ import annotations

from urllib.parse import quote

from ..files.subsetfile import check_destination
from .client import APIError, Client

FILE_MODE = "100644"


class BranchMoved(Exception):
    """The branch is no longer at the tested head; `at` is where it is ('' when GitHub only refused)."""

    def __init__(self, branch: str, tested: str, at: str = "") -> None:
        self.at = at
        where = f"is at {at[:12]}" if at else "moved (GitHub refused a fast-forward)"
        super().__init__(f"branch {branch} {where}, not at the tested {tested[:12]}")


def commit_files(client: Client, repo: str, branch: str, parent: str, files: dict[str, str], message: str) -> str:
    """Commit `files` (path -> text) on top of `parent` and fast-forward `branch` to it; the new commit's SHA.

    Raises BranchMoved, having committed nothing, when `branch` is not at `parent`; InputError, having sent
    nothing, for a path no subset may have (a prompt file, .github/: subsetfile.check_destination)."""
    for path in files:
        check_destination(path)
    where, ref = f"/repos/{repo}/git", "heads/" + quote(branch, safe="/")
    at = str(client.request("GET", f"{where}/ref/{ref}")["object"]["sha"])
    if at != parent:  # also catches a branch reset to an older commit, which a fast-forward would undo
        raise BranchMoved(branch, parent, at)
    base_tree = client.request("GET", f"{where}/commits/{parent}")["tree"]["sha"]
    entries = [
        {
            "path": path,
            "mode": FILE_MODE,
            "type": "blob",
            "sha": client.request("POST", f"{where}/blobs", json={"content": text, "encoding": "utf-8"})["sha"],
        }
        for path, text in files.items()
    ]
    tree = client.request("POST", f"{where}/trees", json={"base_tree": base_tree, "tree": entries})["sha"]
    commit = client.request("POST", f"{where}/commits", json={"message": message, "tree": tree, "parents": [parent]})
    sha = str(commit["sha"])
    try:
        client.request("PATCH", f"{where}/refs/{ref}", json={"sha": sha, "force": False})
    except APIError as exc:
        if exc.status == 422:  # "Update is not a fast forward": the author pushed after our check
            raise BranchMoved(branch, parent) from None
        raise
    return sha
