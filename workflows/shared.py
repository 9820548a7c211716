"""One parsed copy of each frozen protocol, shared by every case that froze the same one.

Each case's input carries its protocol (a case keeps the rules it began with), and the SDK
parses it into a fresh tree of pydantic models for every case it holds or replays: most of a
cached case's memory. The models are frozen, so cases whose protocols serialise to the same
JSON can share one tree; the key is the digest of that JSON, so a case only ever gets a tree
equal to the one in its own input, and what the workflow does is unchanged. This module is
passed through the sandbox (``workflows.runner``), so the worker's cases share it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from protocols.schema import Protocol

#: Distinct protocols kept (every version of every partnership's file is far fewer).
KEEP = 64
_trees: OrderedDict[bytes, Protocol] = OrderedDict()


def shared_protocol(protocol: Protocol) -> Protocol:
    """The shared tree equal to ``protocol`` (``protocol`` itself the first time)."""
    key = hashlib.sha256(protocol.model_dump_json().encode()).digest()
    tree = _trees.get(key)
    if tree is None:
        _trees[key] = tree = protocol
        while len(_trees) > KEEP:
            _trees.popitem(last=False)
    return tree
