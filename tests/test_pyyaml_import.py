"""PyYAML imported with its patterns compiled when first used (convert.frontend.pyyaml): in a fresh process,
so that PyYAML is not imported already; every loader reads as it did, the pure-Python one included, and
`re.compile` is itself again afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHECK = textwrap.dedent("""
    import datetime, re, sys
    compile_ = re.compile
    assert "yaml" not in sys.modules
    from convert.frontend.pyyaml import Deferred, yaml
    assert re.compile is compile_, "re.compile is not restored"
    assert isinstance(yaml.reader.Reader.NON_PRINTABLE, Deferred)
    assert yaml.reader.Reader.NON_PRINTABLE._compiled is None  # not compiled by the import
    text = "a: 1\\nb: 2.5e+3\\nb2: 2.5e3\\nc: yes\\nd: ~\\ne: 2001-12-14\\nf: 0x1f\\ng: .inf\\nh: text\\n"
    want = {"a": 1, "b": 2500.0, "b2": "2.5e3", "c": True, "d": None, "e": datetime.date(2001, 12, 14), "f": 31,
            "g": float("inf"), "h": "text"}
    for loader in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        assert yaml.load(text, Loader=loader) == want, loader
    try:  # the pure-Python reader's check of printable characters, through its deferred pattern
        yaml.load("a: \\x07", Loader=yaml.SafeLoader)
    except yaml.reader.ReaderError as error:
        assert "special characters are not allowed" in str(error)
    else:
        raise AssertionError("a control character was read")
    assert yaml.safe_dump({"k": [1, "2", True]}, default_flow_style=True).strip() == "{k: [1, '2', true]}"
    pattern = Deferred(r"a(b+)", re.I)
    assert pattern.match("ABB").group(1) == "BB" and pattern.pattern == "a(b+)" and pattern.flags & re.I
    from convert.frontend.source import load_yaml
    node, found = load_yaml("input: {channels: 1}\\nlayers: []\\n", "spec.yaml")
    assert not found and node.value["input"].value["channels"].value == 1
    print("ok")
""")


def test_pyyaml_reads_as_before_with_its_patterns_compiled_when_used():
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_an_earlier_import_of_pyyaml_is_used_as_it_is():
    code = ("import re, yaml; from convert.frontend.pyyaml import Deferred, yaml as ours; "
            "assert ours is yaml and not isinstance(yaml.reader.Reader.NON_PRINTABLE, Deferred); print('ok')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
