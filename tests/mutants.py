"""A mutation check of the suite: plant one small bug at a time in a copy of the project and see whether
the tests catch it.

    .venv/bin/python tests/mutants.py            # every mutant; about 15 minutes on two cores
    .venv/bin/python tests/mutants.py 3 17       # only these (numbers as listed)
    .venv/bin/python tests/mutants.py --list
    .venv/bin/python tests/mutants.py --check    # every mutant still applies (run after moving code)

Each mutant is a one-place edit of the compiler, the weight map, the stream or generation: the kind of
slip a contributor makes (a dilation not multiplied by the grid, a crop from the wrong end, a ring sized
by the last reader). A mutant is killed when the non-slow suite fails with it applied. The script prints
a line per mutant and `killed K / N`, and exits 1 if any survived.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (file, text, replacement, what the bug is)
MUTANTS = [
    ("convert/kinds/conv.py", "src.grid * layer.dilation_rate", "layer.dilation_rate",
     "a convolution's practice dilation ignores its grid"),
    ("convert/kinds/pool.py", "return Practice(layer.pool_size, ins[0].grid, ins[0].channels)",
     "return Practice(layer.pool_size, 1, ins[0].channels)", "pooling is not dilated in practice"),
    ("convert/kinds/conv.py", "Geometry((layer.kernel_size - 1) * layer.dilation_rate + 1, layer.strides,",
     "Geometry(layer.kernel_size, layer.strides,", "a dilated kernel's extent forgets the dilation"),
    ("convert/kinds/conv.py", "Meta(channels, grid * layer.strides)", "Meta(channels, grid)",
     "a stride does not coarsen the grid"),
    ("convert/kinds/merge.py", "kept = (w - 1) // (grid // g) + 1",
     "kept = w // (grid // g)", "a merge counts kept positions from the oldest"),
    ("convert/kinds/merge.py", "return (width - 1) * (grid // in_grid) + 1", "return width * (grid // in_grid)",
     "window inference over-asks at merges"),
    ("convert/kinds/dense.py", "(src.folds[0], src.grid, src.folds[1])", "(src.folds[0], 1, src.folds[1])",
     "a Flatten + Dense head is not dilated by its grid"),
    ("convert/analysis/shapes.py", "out._replace(receptive_field=out.receptive_field + practice.reach)",
     "out._replace(receptive_field=out.receptive_field)", "receptive fields do not grow"),
    ("convert/kinds/base.py", "return (self.kernel - 1) * self.dilation if self.kernel else 0",
     "return self.kernel * self.dilation if self.kernel else 0", "causal padding one tap too long"),
    ("convert/analysis/shapes.py", "(not found and window >= origin + period)", "(not found and window >= origin + 1)",
     "window inference gives up after one candidate"),
    ("convert/analysis/shapes.py", "if not geometry.fits(n) and problem is None:",
     "if False and problem is None:", "misaligned strides are never reported"),
    ("convert/lowering/builders.py", '(("cropping", (steps, 0)),), (tensor,), op="crop")',
     '(("cropping", (0, steps)),), (tensor,), op="crop")', "exact warm-up crops the newest steps"),
    ("convert/lowering/builders.py", "crop = max(fields) - field", "crop = 0", "exact warm-up does not right-align merges"),
    ("convert/lowering/builders.py", "start = source.width - 1 - (merge.out.width - 1) * ratio", "start = 0",
     "per-step merges align from the oldest position"),
    ("convert/kinds/conv.py", '(("stride", layer.strides), ("start", 0))', '(("stride", 1), ("start", 0))',
     "per-step stride + dilation does not subsample"),
    ("convert/kinds/conv.py", 'bias = {"bias": [units]} if plan.layer.use_bias else {}', "bias = {}",
     "the weight map drops biases"),
    ("convert/kinds/dense.py", "plan.layer.units], reshape=True)", "plan.layer.units], reshape=False)",
     "the weight map forgets the Dense reshape"),
    ("convert/backends/weight_map.py", 'entry["flatten"] = source', "pass", "the weight map forgets folded Flattens"),
    ("convert/runtime/stream.py", "rings[layer.inputs[0]] = max(rings.get(layer.inputs[0], 1), reach + 1)",
     "rings[layer.inputs[0]] = reach + 1", "a ring sized by its last reader, not its furthest"),
    ("convert/kinds/ops.py", "return tuple((kernel - 1 - i) * dilation for i in range(kernel))",
     "return tuple(i * dilation for i in range(kernel))", "stream taps newest first"),
    ("convert/kinds/ops.py", 'reduce = tf.reduce_max if layer.arg("pool_type") == "max" else tf.reduce_mean',
     'reduce = tf.reduce_mean if layer.arg("pool_type") == "max" else tf.reduce_max', "stream pools swapped"),
    ("convert/runtime/stream.py", "steps, given = self.analysis.window - 1, dict(globals or {})",
     "steps, given = self.analysis.window, dict(globals or {})", "exact warm-up stream starts one zero step late"),
    ("convert/runtime/stream.py", "order = [(t - length + 1 + j) % length for j in range(length - 1)]",
     "order = [(t - length + j) % length for j in range(length - 1)]", "saved state off by one step"),
    ("convert/runtime/generation.py", "tf.reduce_sum(tf.cast(cdf <= u * cdf[:, -1:], tf.int32), axis=-1)",
     "tf.reduce_sum(tf.cast(cdf <= u * cdf[:, -1:], tf.int32), axis=-1) + 1", "the sampled level off by one"),
    ("convert/runtime/mulaw.py", "x = np.sign(y) * ((1.0 + mu) ** np.abs(y) - 1.0) / mu",
     "x = np.sign(y) * ((1.0 + mu) ** np.abs(y) - 1.0) / (mu + 1)", "mu_law_decode divides by mu + 1"),
    ("convert/runtime/mulaw.py", "return np.rint((y + 1.0) / 2.0 * mu).astype(np.int64)",
     "return np.floor((y + 1.0) / 2.0 * mu).astype(np.int64)", "mu_law_encode truncates"),
    ("convert/runtime/generation.py", "                    x = sample = y\n", "                    x, sample = tf.zeros_like(y), y\n",
     "regression generation feeds back zeros"),
    ("convert/runtime/data.py", "return piece[:-1], _target(piece[1:], target)", "return piece[:-1], _target(piece[:-1], target)",
     "training targets not shifted"),
    ("convert/layers/causal.py", "return inputs[:, self.start::self.stride, :]", "return inputs[:, ::self.stride, :]",
     "Subsample1D ignores its start"),
    ("convert/layers/causal.py", "return out if pool_type == \"max\" else out / float(pool_size)",
     "return out if pool_type == \"max\" else out / float(pool_size + 1)", "average pooling divides by p + 1"),
    ("convert/kinds/flatten.py", "if not user.kind.applies_elementwise(user):", "if False:",
     "a Flatten may feed any layer"),
    ("convert/kinds/merge.py", "if len(set(known)) > 1:", "if False:", "Add of unequal channels accepted"),
    ("convert/kinds/global_pool.py", "return Practice(src.width, src.grid, src.channels,",
     "return Practice(src.width, 1, src.channels,", "a global pool is not dilated by its grid"),
    ("convert/layers/causal.py", "level = combine(level[:, : -size * step, :], level[:, size * step:, :])",
     "level = combine(level[:, : -size, :], level[:, size:, :])", "the doubling tree forgets the dilation"),
    ("convert/kinds/ops.py", "return tf.reshape(tf.einsum(\"kbc,kcm->bcm\", taps, kernel), [tf.shape(taps)[1], -1])",
     'return tf.reshape(tf.einsum("kbc,kcm->bmc", taps, kernel), [tf.shape(taps)[1], -1])',
     "streamed depthwise outputs in the wrong channel order"),
    ("convert/kinds/ops.py", "dense[:, rows, cols] = kernel[:, :, cols]", "dense[:, rows, :] = kernel",
     "streamed grouped convolution mixes groups"),
    ("convert/kinds/norm.py", "count = (layer.scale + layer.center + len(self.statistics)) * channels",
     "count = (layer.scale + layer.center) * channels", "batch-norm statistics left out of the parameters"),
    ("convert/kinds/norm.py", 'names = ["gamma"] * layer.scale + ["beta"] * layer.center + list(self.statistics)',
     'names = ["gamma"] * layer.scale + ["beta"] * layer.center', "the weight map drops batch-norm statistics"),
    ("convert/runtime/fold.py", "    return a, beta - a * mean", "    return a, beta - mean",
     "folding forgets to scale the mean"),
    ("convert/kinds/ops.py", "(ins[0][:, None], training=False)", "(ins[0][:, None], training=True)",
     "the stream runs position-wise layers in training mode"),
    ("convert/kinds/base.py", "return total // 2, total - total // 2", "return total - total // 2, total // 2",
     "'same' padding puts the larger half on the left"),
    ("convert/ir/edges.py", "all(delay[first + i * spacing] == newest + reach[i] for i in range(kernel))",
     "newest is not None",
     "a position fed from V at the wrong delays counts as interior"),
    ("convert/layers/edges.py", "self.counts = [float(sum(i != -1 for i in row)) for row in self.edge[\"rows\"]]",
     "self.counts = [float(len(row)) for row in self.edge[\"rows\"]]", "a 'same' average pool counts its padding"),
    ("convert/ir/edges.py", "        shares = [o - min(offs) for o in offs]", "        shares = [0 for o in offs]",
     "a merge of branches at different delays adds their V undelayed"),
    ("convert/ir/edges.py", "if source is not None and source[0] == V:", "if source is not None:",
     "ZeroPadding1D's zeros take the input's positions"),
    ("convert/layers/causal.py", "return ops.pad(steps, [[0, 0], [self.window - 1, 0], [0, 0]])",
     "return ops.pad(steps, [[0, 0], [0, self.window - 1], [0, 0]])", "per-window outputs shifted by the warm-up"),
    ("convert/layers/edges.py", "total = run * float(self.run_length) + (0.0 if total is None else total)",
     "total = run + (0.0 if total is None else total)", "a global average weighs its interior run as one position"),
    ("convert/layers/inputs.py", "steps = ops.arange(1, ops.shape(signal)[1] + 1, dtype=\"int32\") // self.hop",
     "steps = ops.arange(0, ops.shape(signal)[1], dtype=\"int32\") // self.hop",
     "the practice model's hop frames lag one step (frame t // hop)"),
    ("convert/runtime/conditioning.py", "frames = np.minimum((np.arange(start, start + steps) + 1) // node.hop, value.shape[1] - 1)",
     "frames = np.minimum(np.arange(start, start + steps) // node.hop, value.shape[1] - 1)",
     "the stream's hop frames lag one step"),
    ("convert/lowering/builders.py", "args, ins = ((), (name, padded[signal])) if practice",
     "args, ins = ((), (name, signal)) if practice", "exact warm-up broadcasts a global input over the unpadded signal"),
    ("convert/lowering/builders.py", "if any(node.name in p.layer.inputs and not p.layer.kind.reads_integers for p in used):",
     "if any(node.name in p.layer.inputs for p in used):", "an Embedding reads one-hot vectors, not integers"),
    ("convert/runtime/stream.py", "start = int(self._state[0]) - self.origin",
     "start = int(self._state[0])", "the stream counts exact warm-up steps as sequence steps (frames shift)"),
    ("convert/runtime/generation.py", "                        x = tf.one_hot(level, node.channels, dtype=tf.float32)",
     "                        x = tf.one_hot(level - 1, node.channels, dtype=tf.float32)",
     "one-hot feedback is off by one level"),
    ("convert/runtime/stream.py", "and (not op.windowed or op.delays(layer) == (0,))):",
     "):", "windowed conditioning layers are precomputed without their history"),
    ("convert/runtime/training.py", "start = int(rng.integers((steps - self.length - 1) // self.align + 1)) * self.align",
     "start = int(rng.integers(steps - self.length))", "training crops of a hop input start off a frame"),
    ("convert/runtime/training.py", "value[first:first + self.length // node.hop + 1]",
     "value[first:first + self.length // node.hop]", "a training crop takes one frame too few for its last step"),
    ("convert/runtime/training_run.py", "training.save_checkpoint(self.checkpoint, trainer, step + 1, self.ident, self.losses)",
     "training.save_checkpoint(self.checkpoint, trainer, step, self.ident, self.losses)",
     "a checkpoint records the step just run, so a resumed run repeats it"),
    ("convert/importers/keras_layers.py", "_first(axis) not in (-1, 2)", "_first(axis) not in (-1, 1)",
     "import takes a normalisation over time for one over channels"),
    ("convert/runtime/fold.py", 'source.config.get("activation") == "linear" and users[source.name] == 1 and',
     'source.config.get("activation") == "linear" and', "batch norm folded into a convolution another layer reads"),
    ("convert/runtime/feedback.py", "units >= 16 and units & (units - 1) == 0", "units >= 16",
     "any softmax of 16 levels or more is taken as mu-law"),
    ("convert/kinds/global_pool.py", '(("keepdims", layer.keepdims),)', "()",
     "the per-step model drops a global pool's keepdims"),
    ("convert/deploy/runner.py", "            rows[t % length][...] = column",
     "            rows[(t + 1) % length][...] = column",
     "the ONNX runner writes a ring's column one row late"),
    ("convert/deploy/runner.py", "            tensor(index)()[t % length] = tensor(column)()",
     "            tensor(index)()[(t + 1) % length] = tensor(column)()",
     "the LiteRT runner writes a ring's column one row late"),
    ("convert/deploy/runner.py", "    if temperature != 1.0:\n", "    if False:\n",
     "the runner's sampling ignores the temperature"),
    ("convert/deploy/runner.py", "value[:, min((start + k + 1) // spec[\"hop\"], value.shape[1] - 1)]",
     "value[:, min((start + k) // spec[\"hop\"], value.shape[1] - 1)]",
     "the runner reads a hop input's frame one step early"),
    ("convert/runtime/stream.py", "            offset = length - past[0]\n", "            offset = length - past[0] + 1\n",
     "the exported step reads a kernel-2 tap one step late"),
    ("convert/runtime/export.py", "return [(tensor_name(n), column_name(n), shapes[n][0])",
     "return [(tensor_name(n), tensor_name(n), shapes[n][0])", "the ring rule names the ring itself as its column"),
    ("convert/views/blocks.py", "isinstance(y, int) and a - x == b - y", "isinstance(y, int)",
     "blocks that read different layers count as alike"),
    ("convert/views/draw.py", "edges = tuple(e for e in drawing.edges if e.layer not in hidden.hidden and e.source not in hidden.hidden)",
     "edges = drawing.edges", "a collapsed picture keeps the connections of the rows it hides"),
    ("convert/runtime/tflite_edits.py", "        op.inputs[2] = _add_tensor(", "        _add_tensor(",
     "a 16-bit LiteRT op keeps the bias it shares at another op's scale"),
    ("convert/kinds/base.py", "return [clip(range(start, end + geometry.extent), 0, in_width)]",
     "return [clip(range(start, end + geometry.extent - 1), 0, in_width)]",
     "the reached trace drops the newest tap of a run of outputs"),
    ("convert/kinds/merge.py", "in_width - (width - 1 - last) * step, step)]", "in_width - (width - 1 - last) * step - 1, step)]",
     "the reached trace misses a merge input's newest read position"),
    ("convert/cli/linting.py", "for sent in marshal.loads(data)] if data", "for sent in marshal.loads(data)[::-1]] if data",
     "a lint worker's diagnostics come back in the wrong files"),
    ("convert/cli/linting.py", "    stream.write(text + \"\\n\")", "    stream.write(text)",
     "the quick lint path prints its report without line ends"),
    ("convert/runtime/quantize.py", "            return gathers_quantised_after(debugger.get_nondebug_quantized_model())",
     "            return debugger.get_nondebug_quantized_model()", "the int8 LiteRT step quantises its whole rings every step"),
    ("convert/runtime/onnx_edits.py", "bias = np.sum([p[\"bias\"][p[\"columns\"]] for p in pieces], axis=0, dtype=np.float32)",
     "bias = pieces[0][\"bias\"][pieces[0][\"columns\"]]", "the fused skips keep only the first piece's bias"),
    ("convert/runtime/onnx_edits.py", "if output != piece[\"name\"] and readers[output] > 0]",
     "if output != piece[\"name\"]][:1]", "a fused Gemm's other pieces are not all kept"),
    ("convert/runtime/onnx_edits.py", "_constant(graph, output + \"/weights\", weights[:, columns])",
     "_constant(graph, output + \"/weights\", weights[:, bounds[0]])", "a split gate's pieces all take the first piece's weights"),
    ("convert/frontend/pyyaml.py", "        re.compile = _COMPILE\n", "        pass\n",
     "re.compile stays deferred after PyYAML's import"),
    ("convert/core/records.py", "compared = tuple(f.name for f in every if f.compare)", "compared = tuple(f.name for f in every)",
     "a record's equality reads the fields that are not compared (a spec's text, a layer's YAML node)"),
]
COPIED = ("convert", "tests", "specs", "README.md", "pyproject.toml")


def _copy(folder: str) -> None:
    for name in COPIED:
        source = os.path.join(ROOT, name)
        target = os.path.join(folder, name)
        if os.path.isdir(source):
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
        else:
            shutil.copy(source, target)


def run(number: int) -> tuple[bool, float]:
    """Apply mutant `number` to a fresh copy and run the suite there; (killed, seconds)."""
    path, old, new, _ = MUTANTS[number - 1]
    with tempfile.TemporaryDirectory(prefix="causalc-mutant-") as folder:
        _copy(folder)
        target = os.path.join(folder, path)
        text = open(target, encoding="utf-8").read()
        if text.count(old) != 1:
            raise SystemExit(f"mutant {number}: the text to change occurs {text.count(old)} times in {path}")
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text.replace(old, new))
        env = {**os.environ, "PYTHONPATH": folder, "TF_CPP_MIN_LOG_LEVEL": "3"}
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "tests"],
                                cwd=folder, env=env, capture_output=True, text=True)
        return result.returncode != 0, time.perf_counter() - start


def check() -> int:
    """Every mutant's text stands exactly once in its file (after code moves, re-point the mutants)."""
    wrong = []
    for number, (path, old, _, _) in enumerate(MUTANTS, 1):
        text = open(os.path.join(ROOT, path), encoding="utf-8").read() if os.path.exists(os.path.join(ROOT, path)) else ""
        if text.count(old) != 1:
            wrong.append(f"mutant {number}: its text occurs {text.count(old)} times in {path}")
    print("\n".join(wrong) or f"all {len(MUTANTS)} mutants apply")
    return 1 if wrong else 0


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        return check()
    if argv == ["--list"]:
        for i, (path, _, _, what) in enumerate(MUTANTS, 1):
            print(f"{i:3}  {path:34} {what}")
        return 0
    numbers = [int(a) for a in argv] or list(range(1, len(MUTANTS) + 1))
    killed = 0
    for number in numbers:
        dead, seconds = run(number)
        killed += dead
        path, _, _, what = MUTANTS[number - 1]
        print(f"{number:3}  {'killed  ' if dead else 'SURVIVED'}  {seconds:6.1f} s  {path}: {what}", flush=True)
    print(f"killed {killed} / {len(numbers)}")
    return 0 if killed == len(numbers) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
