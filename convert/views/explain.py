"""Views of an analysis: the dilation table as data and as text, and the bench report. No TensorFlow here."""

from __future__ import annotations

from convert.analysis import Analysis
from convert.analysis.same import same_plan
from convert.kinds import input as input_kind




def explain_rows(analysis: Analysis, warmup: str = "causal", costs: dict | None = None) -> list[dict]:
    rows = []
    for plan in analysis.plans:
        layer = plan.layer
        kind = layer.kind
        geometry = kind.geometry(layer)
        rows.append({
            "name": layer.name,
            "per_step": layer.type,
            "practice": (kind.practice_type or layer.type) if plan.used else "(unused)",
            "kernel": plan.kernel or None,
            "stride": geometry.stride if geometry is not None else None,
            "dilation": plan.dilation or None,
            "left_padding": plan.left_pad if warmup == "causal" else 0,
            "width": plan.out.width,
            "channels": plan.out.channels,
            "grid": plan.out.grid,
            "receptive_field": receptive_field(analysis, plan),
            "params": plan.practice.params,
            "note": kind.note(plan) if plan.used else None,
        })
        if costs is not None:
            cost = costs.get(layer.name)
            pad = geometry.pad(analysis.tensors[layer.inputs[0]].width) if geometry is not None else None
            rows[-1].update(same_padding=f"{pad[0]}+{pad[1]}" if pad and any(pad) else None,
                            edges=f"{cost.edges}/{cost.width}" if cost else None,
                            exact_macs=cost.macs if cost else 0)
            if cost and cost.per_window and not any(r.get("per_window") for r in rows[:-1]):
                rows[-1]["per_window"] = True
                rows[-1]["note"] = ("every position is an edge position from here on: this layer and those after "
                                    "it compute every window's positions, as per-window evaluation does")
    return rows


def receptive_field(analysis: Analysis, plan) -> int:
    """Input steps a layer's output depends on. With exact 'same' padding, the window's steps it reads: the
    practice layer's causal span also counts the steps by which centred kernels are delayed, which read
    nothing outside the window, so a row never exceeds the spec's receptive field (the summary's)."""
    if analysis.spec.same_padding == "exact":
        return min(plan.out.receptive_field, analysis.receptive_field)
    return plan.out.receptive_field


def explain_data(analysis: Analysis, warmup: str = "causal") -> dict:
    spec = analysis.spec
    same = same_plan(analysis) if spec.same_padding == "exact" else None
    costs = same.costs if same else None
    data = {
        "spec": spec.name,
        "path": spec.path,
        "input_channels": spec.inputs[0].channels,
        "inputs": [input_kind.describe(node) for node in spec.inputs],
        "window": analysis.window,
        "window_inferred": analysis.window_inferred,
        "receptive_field": analysis.receptive_field,
        "warmup": warmup,
        "input_padding": analysis.window - 1 if warmup == "exact" else 0,
        "params": analysis.params,
        "macs_per_output_step": analysis.macs,
        "per_step_macs_per_window": analysis.step_macs,
        "layers": explain_rows(analysis, warmup, costs),
    }
    if same is not None:
        exact = same.edge_macs
        chosen = sum(cost.macs for cost in same.chosen.values())
        data["same_padding"] = {"form": "per-window" if same.form == "windows" else "edges",
                                "edge_positions": sum(cost.edges for cost in costs.values()),
                                "edge_construction_macs": exact,
                                "macs_per_output_step": chosen,
                                "vs_unpadded_practice": chosen / max(analysis.macs, 1),
                                "vs_per_window": analysis.step_macs / max(chosen, 1),
                                "unpadded_practice_macs": analysis.macs}
        data["macs_per_output_step"] = chosen
    return data


_COLUMNS = [("layer", "name"), ("per-step", "per_step"), ("practice", "practice"), ("kernel", "kernel"),
            ("stride", "stride"), ("dilation", "dilation"), ("left pad", "left_padding"), ("width", "width"),
            ("channels", "channels"), ("grid", "grid"), ("RF", "receptive_field"), ("params", "params")]
_TEXT_COLUMNS = 3  # left-aligned; the numbers are right-aligned


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)


_SAME_COLUMNS = [("same pad", "same_padding"), ("edges", "edges"), ("exact MACs", "exact_macs")]


def explain_lines(data: dict) -> list[tuple[str, str]]:
    """The dilation table as (style, line) pairs: laid out here, styled by whoever prints it."""
    columns = _COLUMNS + (_SAME_COLUMNS if "same_padding" in data else [])
    rows = [[title for title, _ in columns]] + [[_cell(row[key]) for _, key in columns] for row in data["layers"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < _TEXT_COLUMNS else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    inferred = " (inferred)" if data["window_inferred"] else ""
    out = [("bold", f"{data['spec']}  ({data['path']})"), ("bold cyan", line(rows[0])),
           ("dim", "  ".join("-" * w for w in widths))]
    for row, cells in zip(data["layers"], rows[1:]):
        out.append(("dim" if row["practice"] == "(unused)" else "", line(cells)))
    out.append(("bold", f"window {data['window']:,}{inferred}   receptive field {data['receptive_field']:,}   "
                        f"params {data['params']:,}   multiply-adds per output step {data['macs_per_output_step']:,}"))
    same = data.get("same_padding")
    if same is not None and same["form"] == "edges":
        out.append(("bold", f"exact 'same' padding: {same['edge_positions']:,} edge position(s); "
                            f"{same['macs_per_output_step']:,} multiply-adds per output step = "
                            f"{same['vs_unpadded_practice']:,.2f}x the unpadded practice model "
                            f"({same['unpadded_practice_macs']:,}), "
                            f"{same['vs_per_window']:,.1f}x fewer than per-window evaluation "
                            f"({data['per_step_macs_per_window']:,})"))
    elif same is not None:
        out.append(("bold", f"exact 'same' padding: per-window evaluation inside the practice model "
                            f"({same['macs_per_output_step']:,} multiply-adds per output step): the edge "
                            f"construction ({same['edge_positions']:,} edge positions) would need "
                            f"{same['edge_construction_macs']:,}, less than 3x fewer, and its gathered rows run "
                            "slower than Keras's own layers"))
    out += [("", f"{row['name']}: {row['note']}") for row in data["layers"] if row.get("note")]
    if len(data["inputs"]) > 1 or set(data["inputs"][0]) != {"name", "channels"}:
        out += [("", "inputs, in the order the models take them:")]
        out += [("", f"  {input_kind.summary(node)}") for node in data["inputs"]]
    if data["warmup"] == "exact" and same is not None:
        how = f"the input is padded with {data['input_padding']:,} zeros, whose outputs are dropped"
    elif data["warmup"] == "exact":
        how = f"only the input is padded, with {data['input_padding']:,} zeros; layers run unpadded"
    elif same is not None and same["form"] == "per-window":
        how = f"the first {data['window'] - 1:,} outputs, before a whole window, are zeros (the per-window form)"
    else:
        how = "each practice layer pads its own input with zeros (Keras's causal padding)"
    out.append(("", f"warm-up: {data['warmup']}: {how}"))
    return out


_STYLES = {"bold": "\033[1m", "bold cyan": "\033[1;36m", "dim": "\033[2m", "": ""}


def explain_text(analysis: Analysis, warmup: str = "causal", color: bool = False) -> str:
    """The dilation table as text, styled with ANSI codes on a terminal (importing rich's console would
    add about 35 ms to a command that must answer in well under 0.3 s)."""
    lines = []
    for style, text in explain_lines(explain_data(analysis, warmup)):
        lines.append(f"{_STYLES[style]}{text}\033[0m" if color and style else text)
    return "\n".join(lines) + "\n"


def bench_lines(report: dict) -> list[str]:
    """`causalc bench` as text."""
    t, i = report["training"], report["inference"]
    m = report["machine"]
    p, s = t["practice"], t["per_step"]

    def mib(value):
        return "n/a" if value is None else f"{value:,.0f} MiB"

    lines = [
        f"{report['spec']}: window {report['window']:,}, receptive field {report['receptive_field']:,}, "
        f"{report['params']:,} parameters",
        f"machine: {m['cores']} cores ({m['processor']}), Python {m['python']}, TensorFlow {m['tensorflow']}; "
        f"medians of {report['repeats']} runs after warm-up",
        "",
        f"training (forward, backward, Adam), {t['batch']} sequences of {t['length']:,} steps vs "
        f"{t['window_batch']} windows per step:",
        f"  practice   {p['predictions_per_second']:>14,.0f} predictions/s   peak RSS {mib(p['peak_rss_mib'])}",
        f"  per-step   {s['predictions_per_second']:>14,.0f} predictions/s   peak RSS {mib(s['peak_rss_mib'])}",
        f"  speed-up   {t['speedup']:>14,.1f}x   (multiply-adds per prediction: {t['mac_ratio']:,.1f}x; "
        f"speed-up / that = {t['speedup_over_mac_ratio']:.2f})",
        "",
        f"inference: practice forward {i['practice_gflops']:,.1f} GFLOP/s, matrix multiply {i['matmul_gflops']:,.1f} "
        f"GFLOP/s: {i['ratio']:.0%}",
        "",
        "analysis of generated specs: " + ", ".join(
            f"{int(n):,} layers {v['analysis_seconds'] * 1000:,.0f} ms (with reading {v['check_seconds'] * 1000:,.0f} ms)"
            for n, v in report["analysis"].items()),
    ]
    for row in report.get("speedup_by_window", []):
        lines.append(f"  W = {row['window']:>5}: training speed-up {row['speedup']:8.1f}x "
                     f"(multiply-adds {row['mac_ratio']:.1f}x)")
    return lines
