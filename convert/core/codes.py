"""The registry of diagnostic codes: one entry per code, documented as `causalc lint --explain CODE` prints it."""

from __future__ import annotations

from typing import NamedTuple


class Rule(NamedTuple):
    code: str
    name: str
    severity: str  # "error", "warning" or "note"
    summary: str
    why: str
    example: str


_RULES = [
    Rule("E100", "yaml-syntax", "error", "The file is not valid YAML.",
         "causalc cannot read a spec the YAML parser rejects.",
         "Fix the indentation or quoting at the position shown; `layers:` must be a list of mappings."),
    Rule("E101", "unsafe-tag", "error", "A YAML tag such as `!!python/object` appears in the spec.",
         "Specs are loaded safely: tags that construct Python objects are never executed.",
         "Write the value as a plain number, string, list or mapping: `filters: 16`, not `filters: !!python/int 16`."),
    Rule("E102", "duplicate-key", "error", "A mapping has the same key twice.",
         "YAML would silently keep only the last value, hiding a mistake.",
         "Keep one `kernel_size:` per layer."),
    Rule("E103", "spec-too-large", "error", "The spec nests too deeply or expands to too many values.",
         "Aliases can make a small file expand to billions of values; causalc refuses rather than hang.",
         "Write the layers out without recursive or deeply nested aliases."),
    Rule("E110", "wrong-type", "error", "A field has a value of the wrong type.",
         "Fields take the types Keras's own arguments take.",
         "`kernel_size: 2` or `kernel_size: [2]`, not `kernel_size: two`."),
    Rule("E111", "unknown-key", "error", "A mapping has a key causalc does not know.",
         "A misspelt key would otherwise be ignored and a default used silently.",
         "`strides: 2`, not `stride: 2`."),
    Rule("E112", "missing-field", "error", "A required field is absent.",
         "Without it the layer's shape is undefined.",
         "`{type: Conv1D, filters: 16, kernel_size: 2}`: Conv1D needs `filters` and `kernel_size`."),
    Rule("E113", "unknown-layer-type", "error", "A layer's `type` is not one causalc compiles.",
         "Only layers with a known practice form can be compiled.",
         "Use Conv1D, MaxPooling1D, AveragePooling1D, Flatten, Dense, Add, Multiply, Concatenate or Activation."),
    Rule("E114", "bad-value", "error", "A number is out of range (zero, negative or absurdly large) or a value is not allowed.",
         "Sizes must be positive and fit the 32-bit integers TensorFlow uses.",
         "`strides: 2`, not `strides: 0`."),
    Rule("E115", "duplicate-name", "error", "Two layers have the same name.",
         "Names wire the graph and name the weights; each must be unique.",
         "Rename one of them: `name: conv2`."),
    Rule("E116", "unknown-input", "error", "`inputs` or `output` names a layer that does not exist.",
         "The graph would have a dangling edge.",
         "Name an existing layer, or `input` for the model input."),
    Rule("E117", "cycle", "error", "The layers' `inputs` form a cycle.",
         "A feed-forward network cannot depend on its own output.",
         "Make every layer take inputs from layers defined before it."),
    Rule("E118", "merge-arity", "error", "A merge layer has fewer than two inputs.",
         "Add, Multiply and Concatenate combine two or more tensors.",
         "`inputs: [a, b]`."),
    Rule("E119", "single-input", "error", "A layer that takes one input was given several.",
         "Only Add, Multiply and Concatenate combine tensors.",
         "Merge the tensors first with `{type: Add, inputs: [a, b]}`, then feed the merge."),
    Rule("E120", "unknown-activation", "error", "An activation name is not one causalc knows.",
         "The activation must exist in Keras and in causalc's reference evaluator.",
         "`activation: relu`."),
    Rule("E121", "reserved-name", "error", "A layer is named `input`.",
         "`input` names the model input.",
         "Rename the layer: `name: input_proj`."),
    Rule("E200", "padding-same", "error", "`padding: same` in a per-step spec.",
         "With 'same' padding the per-step layer pads on both sides. In practice the places where that padding "
         "would go are occupied by other time steps' inputs, so no stride-1 causal network computes the same "
         "function for every step.",
         "Remove `padding` (per-step layers are unpadded, 'valid') and enlarge the window if widths run short."),
    Rule("E201", "padding-causal", "error", "`padding: causal` in a per-step spec.",
         "Causal padding is what the compiler adds in practice; the per-step network sees a full window.",
         "Remove `padding`: causalc adds causal padding to the practice model."),
    Rule("E202", "misaligned", "error", "A strided layer does not consume its input exactly.",
         "Keras's valid padding drops the newest steps of a misaligned input, so the prediction would not "
         "use the most recent samples.",
         "Choose a window for which `(width - span) % strides == 0` at every strided layer; the message names the nearest."),
    Rule("E203", "output-width", "error", "The output layer's width in the window is not 1.",
         "One window must give exactly one prediction.",
         "Add `Flatten` and `Dense` before the output, or use the window the message suggests."),
    Rule("E204", "merge-grid", "error", "A merge's inputs have grids that do not divide the coarsest grid.",
         "Positions of the inputs could not be lined up step for step.",
         "Give the merged branches strides whose products divide one another."),
    Rule("E205", "merge-channels", "error", "Add or Multiply inputs have different channel counts.",
         "Elementwise merges need equal shapes.",
         "Give both branches the same `filters`, or use Concatenate."),
    Rule("E206", "window-too-small", "error", "A layer's input is narrower than its kernel or pool.",
         "The window does not reach far enough back for this layer.",
         "Enlarge `window`, or remove it to let causalc infer the smallest that works."),
    Rule("E207", "no-window", "error", "No window satisfies every alignment rule with width 1 at the output.",
         "Strides and crops on different branches contradict one another.",
         "Change the strides or kernels of the branches named, or end with Flatten + Dense."),
    Rule("E208", "flatten-consumer", "error", "A Flatten layer feeds something other than Dense, or is the output.",
         "In practice Flatten + Dense becomes one Conv1D; Flatten alone has no practice form.",
         "Follow `Flatten` with `Dense`."),
    Rule("E210", "groups", "error", "`groups` does not divide the input channels or the filters.",
         "A grouped convolution splits its input and its filters into equal groups.",
         "`groups: 2` on a layer with an even number of input channels and filters."),
    Rule("E209", "dilation-overflow", "error", "A practice dilation or the receptive field passes 2**31 - 1.",
         "TensorFlow's convolutions take 32-bit dilations.",
         "Use fewer or smaller strides."),
    Rule("E211", "too-many-parameters", "error", "The network needs more parameters than the limit.",
         "A spec of a few lines can ask for billions of weights; causalc says so before allocating them, instead "
         "of running out of memory minutes later.",
         "Use fewer filters or units, or raise the limit: `causalc --max-parameters 1000000000 compile ...`."),
    Rule("E212", "too-many-step-values", "error", "The practice model holds more activations per time step than the limit.",
         "Training runs the practice model over sequences: memory is the values per step times the steps. Exact "
         "'same' padding in its per-window form holds every window position of every layer at each step.",
         "Use fewer channels or a smaller window, or raise the limit: `causalc --max-step-values N compile ...`."),
    Rule("E213", "normalisation-over-positions", "error", "A GroupNormalization reads a tensor with positions.",
         "Keras's GroupNormalization normalises over the positions of the window as well as a group of "
         "channels, which no causal model computes step by step.",
         "Put it where the tensor has no positions (after a global pool or a Flatten + Dense head), or use "
         "LayerNormalization (each position over its channels)."),
    Rule("W300", "unused-layer", "warning", "A layer does not contribute to the output.",
         "It would be compiled into no model and its weights would never train.",
         "Wire it into the output or delete it."),
    Rule("W301", "window-beyond-receptive-field", "warning", "The window is larger than the receptive field.",
         "The oldest steps of every window never reach the output: the per-step model reads inputs it ignores.",
         "Shrink `window` to the receptive field, or remove it to let causalc infer it."),
    Rule("W302", "stride-over-kernel", "warning", "A layer's stride is larger than its kernel span.",
         "Input positions between two kernel applications are skipped: no output ever sees them.",
         "`kernel_size: 3, strides: 2` instead of `kernel_size: 1, strides: 2`, or add dilation."),
    Rule("W303", "huge-receptive-field", "warning", "The receptive field passes 2**20 steps.",
         "Every training sequence must be longer than the window, and warm-up dominates short sequences.",
         "Check the strides: one stride too many doubles the receptive field."),
    Rule("W306", "same-padding-edges-meet", "warning",
         "With `same_padding: exact`, every position of a layer is an edge position.",
         "Edge positions (those that 'same' padding reaches) cannot be shared between windows; where they fill a "
         "layer, the exact practice model computes that layer for every window, as per-window evaluation does.",
         "Nothing to fix if the cost is acceptable; otherwise a larger window or smaller kernels."),
    Rule("W304", "suspicious-yaml", "warning", "A YAML value is probably not what it looks like.",
         "YAML 1.1 reads `1e-3` as a string, `yes`/`no`/`on`/`off` as booleans and `010` as octal 8.",
         "Quote strings (`name: \"no\"`), write `0.001` or `1.0e-3`, and drop leading zeros."),
]

_RULES.append(
    Rule("N305", "padding-same-harmless", "note", "`padding: same` on a layer that spans one step at stride 1.",
         "There 'same' pads nothing and equals 'valid', so the layer compiles as it is.",
         "Remove `padding`."))

RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}
