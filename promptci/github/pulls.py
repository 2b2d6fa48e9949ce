"""The REST calls promptci makes on a pull request, each one GitHub endpoint.

The sticky comment is the first comment, in any page, that carries the hidden marker *and* was written
by the bot's login: anyone can paste the marker into a comment, and we must never edit theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..rendering.escape import flat
from .client import Client

DESCRIPTION_LIMIT = 140
CONTEXT_LIMIT = 255


@dataclass(frozen=True)
class Comment:
    id: int
    url: str
    created: bool


class PullRequestAPI:
    def __init__(self, client: Client, repo: str, number: int) -> None:
        self.client = client
        self.repo = repo
        self.number = number

    def upsert_comment(self, body: str, *, marker: str, login: str, create: bool = True) -> Comment | None:
        """Update the sticky comment in place, or create it when there is none yet (and `create`)."""
        for comment in self.client.paginate(f"/repos/{self.repo}/issues/{self.number}/comments"):
            if marker in (comment.get("body") or "") and (comment.get("user") or {}).get("login") == login:
                updated = self.client.request(
                    "PATCH", f"/repos/{self.repo}/issues/comments/{comment['id']}", json={"body": body}
                )
                return Comment(id=comment["id"], url=updated.get("html_url", ""), created=False)
        if not create:
            return None
        created = self.client.request("POST", f"/repos/{self.repo}/issues/{self.number}/comments", json={"body": body})
        return Comment(id=created["id"], url=created.get("html_url", ""), created=True)

    def get(self) -> dict:
        """The pull request as GitHub has it now (`head.sha`, `base.ref`, `base.sha`...)."""
        return self.client.request("GET", f"/repos/{self.repo}/pulls/{self.number}")

    def set_status(self, sha: str, *, context: str, state: str, description: str, target_url: str = "") -> None:
        """A commit status on the pull request's head commit."""
        body = {"state": state, "context": context[:CONTEXT_LIMIT], "description": flat(description, DESCRIPTION_LIMIT)}
        if target_url:
            body["target_url"] = target_url
        self.client.request("POST", f"/repos/{self.repo}/statuses/{sha}", json=body)

    def review_comments(self) -> list[dict]:
        return list(self.client.paginate(f"/repos/{self.repo}/pulls/{self.number}/comments"))

    def review(self, sha: str, comments: list[dict], body: str) -> None:
        """One review of the pull request at commit `sha` carrying `comments` (one notification, not one each);
        422 when a comment's lines are outside the diff."""
        self.client.request(
            "POST",
            f"/repos/{self.repo}/pulls/{self.number}/reviews",
            json={"commit_id": sha, "event": "COMMENT", "body": body, "comments": comments},
        )


def review_comment(path: str, start_line: int, end_line: int, body: str) -> dict:
    """A review comment on lines start..end of the head version of `path`."""
    comment = {"path": path, "line": end_line, "side": "RIGHT", "body": body}
    if start_line < end_line:
        comment.update(start_line=start_line, start_side="RIGHT")
    return comment
