"""Times on a cluster (SPEC sections 3 and 9): on a validator the program reads the cluster's Clock, which the
transport lets reach each operation's `now` before sending it, so the times the program stamps are at or after
the model's rather than equal to them where the model applied the operation at its own `now`: the backend's `rpc`
chain, whose comparison relaxes exactly those fields, and only in that direction. (`choir check replay --rpc`
applies the model at the time each transaction ran instead, `RpcTransport`'s `TxOutcome.time`, and compares
exactly.)"""

from __future__ import annotations

import copy
from typing import Any

CLUSTER_TIMES = {"threads": ("created_at", "updated_at"), "messages": ("deadline",)}


def cluster_times(model: dict[str, Any], chain: dict[str, Any]) -> dict[str, Any]:
    """`chain` with each cluster-stamped time that is at or after the model's replaced by the model's, so that a
    comparison flags only the times that broke that rule (and everything else): an earlier time is a bug."""
    out = copy.deepcopy(chain)
    for group, names in CLUSTER_TIMES.items():
        for key, entry in out.get(group, {}).items():
            mine = model.get(group, {}).get(key)
            if mine is None:
                continue
            for name in names:
                theirs, ours = entry.get(name), mine.get(name)
                if isinstance(theirs, int) and isinstance(ours, int) and theirs >= ours:
                    entry[name] = ours
    return out
