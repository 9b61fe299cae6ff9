"""The co-authorship network of a run (networkx): who co-authors which thread, and who writes with whom.

The bipartite graph has a node per user who ever co-authored (`u:<name>`) and per thread (`t:<id>`), with an edge
per seat and the time it was taken. The co-author projection links two users who share a thread; its degree
distribution, centralisation and clustering say whether the community is one well-mixed group, a few cliques or
a star around a few hubs (what a Sybil capture or a griefer's seat looks like). Metrics go into the summary table
with the `net_` prefix; the graph is exported as GraphML for Gephi or Cytoscape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import networkx as nx
from networkx.algorithms import bipartite

from sim.stats import gini


def build_graph(
    memberships: Iterable[tuple[str, str, int]],
    users: Mapping[str, Mapping[str, Any]],
    threads: Mapping[str, Mapping[str, Any]],
    epoch: int,
) -> nx.Graph:
    """memberships: (user, thread, joined at); users / threads: node attributes by name (strings and numbers)."""
    graph = nx.Graph()
    for thread_id, attributes in threads.items():
        graph.add_node(f"t:{thread_id}", kind="thread", bipartite=1, **attributes)
    for user, thread_id, joined in memberships:
        node = f"u:{user}"
        if node not in graph:
            graph.add_node(node, kind="user", bipartite=0, **users.get(user, {}))
        graph.add_edge(node, f"t:{thread_id}", joined_at=joined, joined_day=(joined - epoch) / 86_400)
    return graph


def user_projection(graph: nx.Graph) -> nx.Graph:
    """Users linked when they share a thread; `weight` = number of shared threads."""
    users = [n for n, kind in graph.nodes(data="kind") if kind == "user"]
    if not users or len(users) == graph.number_of_nodes():  # no thread (or no user): nobody shares anything
        projection = nx.Graph()
        projection.add_nodes_from(users)
        return projection
    return bipartite.weighted_projected_graph(graph, users)


def degree_centralization(graph: nx.Graph) -> float:
    """Freeman's degree centralisation: 1 for a star, 0 when every node has the same degree."""
    n = graph.number_of_nodes()
    if n < 3:
        return 0.0
    degrees = [d for _, d in graph.degree()]
    top = max(degrees)
    return sum(top - d for d in degrees) / ((n - 1) * (n - 2))


def network_metrics(graph: nx.Graph) -> dict[str, float | int]:
    """The `net_*` columns of the summary table."""
    users = sum(1 for _, kind in graph.nodes(data="kind") if kind == "user")
    threads = graph.number_of_nodes() - users
    components = list(nx.connected_components(graph)) if graph.number_of_nodes() else []
    largest = max((len(c) for c in components), default=0)
    projection = user_projection(graph)
    degrees = [d for _, d in projection.degree()]
    return {
        "net_users": users,
        "net_threads": threads,
        "net_seats": graph.number_of_edges(),
        "net_components": len(components),
        "net_largest_component_share": largest / graph.number_of_nodes() if graph.number_of_nodes() else 0.0,
        "net_coauthor_links": projection.number_of_edges(),
        "net_mean_degree": sum(degrees) / len(degrees) if degrees else 0.0,
        "net_max_degree": max(degrees, default=0),
        "net_degree_gini": gini(degrees),
        "net_degree_centralization": degree_centralization(projection),
        "net_transitivity": nx.transitivity(projection) if degrees else 0.0,
    }


def degree_distribution(graph: nx.Graph) -> list[tuple[int, int]]:
    """(degree, number of users) in the co-author projection, by degree."""
    counts = Counter(d for _, d in user_projection(graph).degree())
    return sorted(counts.items())


def write_graphml(graph: nx.Graph, path: str | Path) -> Path:
    path = Path(path)
    nx.write_graphml(graph, path)
    return path
