"""The admin search indexes every job joins (``GET /api/admin/jobs``): one per workspace and one
per contact of a workspace, of the job's organisation (two organisations that use the same
workspace id never share one), each a listing index of the job's queue (``Q:idx:<name>``, ids
scored by creation time, same hash slot; deleted with the job by ``remove_job``).

A split queue keeps a workspace's jobs in one sub-queue, so both indexes of a workspace live
there. Index names are space-separated in the job record, so a value with whitespace or a
colon (or longer than ``MAX_PART``) is named by its hash instead.
"""

from __future__ import annotations

import functools
import hashlib
import re

#: Longest workspace or contact id used as is in an index name, in characters.
MAX_PART = 200
_PLAIN = re.compile(r"[^\s:#]{1," + str(MAX_PART) + "}")


@functools.lru_cache(maxsize=4096)  # a bulk's jobs share their organisation and workspace
def _part(value: str) -> str:
    if _PLAIN.fullmatch(value):
        return value
    return "#" + hashlib.sha256(value.encode()).hexdigest()[:32]


def workspace_index(org: str, workspace_id: str) -> str:
    """The index name of an organisation's workspace's jobs: ``ws:<org>:<workspace>``."""
    return f"ws:{_part(org or '-')}:{_part(workspace_id)}"


def contact_index(org: str, workspace_id: str, contact_id: str) -> str:
    """The index name of a contact's jobs in a workspace: ``ct:<org>:<workspace>:<contact>``."""
    return f"ct:{_part(org or '-')}:{_part(workspace_id or '-')}:{_part(contact_id)}"


def search_indexes(org: str, workspace_id: str, contact_id: str) -> tuple[str, ...]:
    """The search indexes a job of this organisation, workspace and contact joins (none without
    a workspace or contact)."""
    names = []
    if workspace_id:
        names.append(workspace_index(org, workspace_id))
    if contact_id:
        names.append(contact_index(org, workspace_id, contact_id))
    return tuple(names)
