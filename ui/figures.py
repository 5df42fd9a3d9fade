"""The dashboard's Plotly figures: the map, cluster labels and search rings on it, the topic audit,
score histograms and the proxy-model learning curves. Built from data frames; no Streamlit."""
from __future__ import annotations

import pandas as pd


def map_figure(points: pd.DataFrame, colour: pd.Series, continuous: bool, hover: list[str]):
    """A WebGL scatter of the projection: one trace for scores (colour bar), one per category
    otherwise; `customdata` carries the doc_id so box/lasso selections map back to documents."""
    import plotly.graph_objects as go  # noqa: PLC0415

    fig = go.Figure()
    if continuous:
        fig.add_trace(go.Scattergl(  # named and out of the legend: the colour bar says it (no "trace 0")
            x=points["x"], y=points["y"], mode="markers", customdata=points["doc_id"], text=hover,
            name=str(colour.name), showlegend=False, hovertemplate="%{text}<extra></extra>",
            marker={"size": 6, "color": colour, "colorscale": "Viridis", "showscale": True,
                    "colorbar": {"title": colour.name}}))
    else:
        palette = {"selected": "#2f7d4f", "not selected": "#c9ccd1", "accept": "#2f7d4f",
                   "reject": "#c0392b", "unreviewed": "#c9ccd1"}
        for value in sorted(colour.unique(), key=lambda v: v != "not selected" and v != "unreviewed"):
            rows = (colour == value).to_numpy()
            fig.add_trace(go.Scattergl(
                x=points["x"][rows], y=points["y"][rows], mode="markers", name=str(value),
                customdata=points["doc_id"][rows], text=[h for h, r in zip(hover, rows) if r],
                hovertemplate="%{text}<extra></extra>",
                marker={"size": 6, "color": palette.get(value)}))
    fig.update_layout(height=560, margin={"l": 10, "r": 10, "t": 10, "b": 10}, dragmode="lasso",
                      legend={"orientation": "h", "y": 1.02}, xaxis={"visible": False},
                      yaxis={"visible": False})
    return fig


def add_cluster_labels(fig, positions: pd.DataFrame) -> None:
    """Each cluster's label written at its median position on the map (plain text, no hover)."""
    import plotly.graph_objects as go  # noqa: PLC0415

    fig.add_trace(go.Scatter(x=positions["x"], y=positions["y"], mode="text", name="cluster labels",
                             text=[str(t).replace("<", "&lt;") for t in positions["label"]],
                             textfont={"size": 13, "color": "#1f2933"}, hoverinfo="skip", showlegend=False))


def add_highlight(fig, points: pd.DataFrame, query: str) -> None:
    """Rings around the documents matching a search, on top of the map."""
    import plotly.graph_objects as go  # noqa: PLC0415

    fig.add_trace(go.Scattergl(x=points["x"], y=points["y"], mode="markers", hoverinfo="skip",
                               name=f"contains '{query[:30]}'".replace("<", "&lt;"),
                               marker={"size": 12, "color": "rgba(0,0,0,0)", "line": {"color": "#d62728", "width": 2}}))


def audit_figure(audit: pd.DataFrame):
    """Bars per cluster: share of the corpus vs share of the selection (the most dropped first)."""
    import plotly.graph_objects as go  # noqa: PLC0415

    names = [f"{c}: {label}"[:40] for c, label in zip(audit["cluster"], audit["label"])]
    fig = go.Figure([go.Bar(name="share of corpus", x=names, y=audit["share_corpus"], marker_color="#c9ccd1"),
                     go.Bar(name="share of selection", x=names, y=audit["share_selection"], marker_color="#2f7d4f")])
    fig.update_layout(barmode="group", height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"orientation": "h", "y": 1.1}, yaxis={"tickformat": ".0%"})
    return fig


def histogram_figure(name: str, hist: pd.DataFrame):
    """Overlaid bars: every document vs the selected ones, on the same bins."""
    import plotly.graph_objects as go  # noqa: PLC0415

    fig = go.Figure([go.Bar(x=hist["value"], y=hist["all"], name="all", marker_color="#c9ccd1"),
                     go.Bar(x=hist["value"], y=hist["selected"], name="selected", marker_color="#2f7d4f")])
    fig.update_layout(barmode="overlay", height=220, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title={"text": name, "font": {"size": 14}}, showlegend=False, bargap=0.02)
    return fig


def proxy_figure(curves: pd.DataFrame):
    """Held-out loss against training tokens, one line per selection with its 95% band over seeds."""
    import plotly.graph_objects as go  # noqa: PLC0415

    fig = go.Figure()
    for name, c in curves.groupby("selection", sort=False):
        fig.add_trace(go.Scatter(x=list(c["tokens"]) + list(c["tokens"])[::-1], y=list(c["hi"]) + list(c["lo"])[::-1],
                                 fill="toself", opacity=0.2, line={"width": 0}, showlegend=False, hoverinfo="skip",
                                 name=str(name)))
        fig.add_trace(go.Scatter(x=c["tokens"], y=c["mean"], mode="lines+markers", name=str(name)))
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="training tokens",
                      yaxis_title="held-out loss (nats/token)", legend={"orientation": "h", "y": 1.1})
    return fig
