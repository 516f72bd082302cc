"""What the lowerings share: the one driver loop, a builder that names graph layers uniquely and brings
the inputs to the step rate, exact warm-up's zeros and crop, and the per-step builder's reshaping and
alignment. The builders implement the contexts kinds are given (`convert.kinds.contexts`)."""

from __future__ import annotations

from convert.analysis import Analysis, LayerPlan
from convert.ir.graph import KERAS, GraphLayer

CUSTOM = "convert.layers"  # where causalc's own Keras layers live (generated sources import them from there)
EDGE = "convert.edge_layers"  # the exact 'same' practice model's layers
INPUT_LAYERS = "convert.input_layers"  # inputs brought to the step rate


class Builder:
    """Collects graph layers; names helper layers uniquely, never clashing with a spec name."""

    def __init__(self, analysis: Analysis):
        self.analysis = analysis
        self.layers: list[GraphLayer] = []
        self.taken = {node.name for node in analysis.spec.inputs} | {p.layer.name for p in analysis.plans}
        self.source: dict[str, str] = {}  # spec tensor -> graph tensor that carries it
        self.categories: dict[str, str] = {}  # categorical input -> graph tensor of its integers at the step rate

    def add(self, name: str, cls: str, config: tuple, inputs: tuple[str, ...], plan: LayerPlan | None = None,
            module: str = KERAS, op: str = "pointwise") -> str:
        """Add a layer; a helper (no plan, or a second layer of a spec layer) gets a fresh unique name."""
        if plan is None or plan.layer.name != name:
            while name in self.taken:
                name += "_"
            self.taken.add(name)
        self.layers.append(GraphLayer(name, cls, tuple(config), tuple(inputs), plan, module, op))
        return name

    def tensor(self, name: str) -> str:
        return self.source.get(name, name)

    def inputs(self, plan: LayerPlan) -> tuple[str, ...]:
        return tuple(self.tensor(name) for name in plan.layer.inputs)

    def lowered(self, plan: LayerPlan, out: str) -> str:
        """Called with each spec layer's output as it is lowered; returns the tensor that carries it."""
        return out

    def warmup_padding(self, tensor: str, steps: int, categories: bool = False) -> str:
        """Exact warm-up's `steps` zeros before an input (integers are padded with category 0)."""
        if categories:
            return self.add("warmup_padding", "PadSteps1D", (("steps", steps),), (tensor,), module=INPUT_LAYERS,
                            op="pad")
        return self.add("warmup_padding", "ZeroPadding1D", (("padding", (steps, 0)),), (tensor,), op="pad")

    def warmup_crop(self, tensor: str, steps: int) -> str:
        """Exact warm-up's outputs of the padding zeros (or of steps a merge dropped) cut from the output."""
        return self.add("warmup_crop", "Cropping1D", (("cropping", (steps, 0)),), (tensor,), op="crop")

    def integers(self, name: str) -> str:
        """A categorical input's integers at the step rate (what an Embedding reads)."""
        return self.categories.get(name, self.tensor(name))

    def expand_inputs(self, practice: bool, pad: int = 0) -> None:
        """Every input as a step-rate sequence: a global vector broadcast, (practice) a hop input's frames
        repeated, `pad` zeros in front (exact warm-up), a categorical input's one-hot vectors for the
        layers other than an Embedding that read it."""
        spec, used = self.analysis.spec, [p for p in self.analysis.plans if p.used]
        signal = spec.signal.name
        padded: dict[str, str] = {}  # a global input is the same at every position, the padding's included
        for node in sorted(spec.inputs, key=lambda node: node.is_global):
            name = node.name
            if node.is_global:
                args, ins = ((), (name, padded[signal])) if practice else ((("length", self.analysis.window),), (name,))
                name = self.add(f"{node.name}_broadcast", "Broadcast1D", args, ins, module=INPUT_LAYERS, op="expand")
            elif node.hop and practice:
                name = self.add(f"{node.name}_steps", "HopRepeat1D", (("hop", node.hop),), (name, signal),
                                module=INPUT_LAYERS, op="expand")
            if pad and not node.is_global:
                name = self.warmup_padding(name, pad, bool(node.categories))
            padded[node.name] = name
            if node.categories:
                self.categories[node.name] = name
                if any(node.name in p.layer.inputs and not p.layer.kind.reads_integers for p in used):
                    name = self.add(f"{node.name}_one_hot", "OneHot1D", (("categories", node.categories),), (name,),
                                    module=INPUT_LAYERS)
            if name != node.name:
                self.source[node.name] = name


class PracticeBuilder(Builder):
    def __init__(self, analysis: Analysis, warmup: str):
        super().__init__(analysis)
        self.exact = warmup == "exact"
        self.padding = "valid" if self.exact else "causal"

    def right_align(self, plan: LayerPlan, inputs: tuple[str, ...]) -> tuple[str, ...]:
        """In exact warm-up, unpadded branches are shorter by what they consumed: crop each merge input's
        oldest steps so that all end on the same step and have the same length."""
        if not self.exact:
            return inputs
        fields = [self.analysis.tensors[name].receptive_field for name in plan.layer.inputs]
        out = []
        for name, field in zip(inputs, fields):
            crop = max(fields) - field
            if crop:
                name = self.add(f"{plan.layer.name}_{name}_crop", "Cropping1D", (("cropping", (crop, 0)),), (name,),
                                op="crop")
            out.append(name)
        return tuple(out)


class PerStepBuilder(Builder):
    def sequence(self, name: str) -> str:
        """A tensor as (batch, positions, channels): a flat (batch, channels) one gets a Reshape to one position."""
        tensor = self.tensor(name)
        if not self.analysis.tensors[name].flat:
            return tensor
        return self.add(f"{name}_as_sequence", "Reshape", (("target_shape", (1, self.analysis.tensors[name].channels)),),
                        (tensor,))

    def align(self, merge: LayerPlan, name: str) -> str:
        """Bring a merge input to the merge's grid (every r-th position counted back from the newest) and width."""
        source = self.analysis.tensors[name]
        tensor = self.sequence(name)
        ratio = merge.out.grid // source.grid
        start = source.width - 1 - (merge.out.width - 1) * ratio
        if ratio == 1 and start == 0:
            return tensor
        return self.add(f"{merge.layer.name}_{name}_aligned", "Subsample1D", (("stride", ratio), ("start", start)),
                        (tensor,), module=CUSTOM)




def drive(ctx: Builder, lower_layer) -> None:
    """The one driver loop of every form: each used spec layer, in order, through `lower_layer(plan, ctx)`
    (its kind's method for the form); the tensor it returns carries the layer's output from then on."""
    for plan in ctx.analysis.plans:
        if plan.used:
            ctx.source[plan.layer.name] = ctx.lowered(plan, lower_layer(plan, ctx))
