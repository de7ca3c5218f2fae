"""cli.json_list (``--json status all``) is json.dumps(items, indent=2), byte for byte."""

import json
import random

from usrsvcmod.cli import json_list


def _value(rng, depth):
    kinds = ["str", "int", "float", "none", "bool"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return "".join(rng.choice(['a', ' ', '"', '\\', '\n', '\t', '\x00', '\u00e9', '\u2028',
                                   '\U0001f600', ',', ':', '{', '}', '[', ']'])
                       for _ in range(rng.randrange(6)))
    if kind == "int":
        return rng.choice([0, -1, 7, 10 ** 20])
    if kind == "float":
        return rng.choice([0.5, -0.0, 1e300, 123.45, float("inf")])
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "list":
        return [_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {"k%d" % i: _value(rng, depth + 1) for i in range(rng.randrange(3))}


def test_every_shape_of_result_list_is_encoded_as_json_dumps_with_indent_2_does():
    rng = random.Random(15)
    for _ in range(500):
        items = [{"f%d" % i: _value(rng, 1) for i in range(rng.randrange(6))}
                 for _ in range(rng.randrange(4))]
        assert json_list(items) == json.dumps(items, indent=2), items


def test_a_result_as_status_gives_it():
    item = {"name": "web", "state": "running", "pid": 7, "started_at": 1.5, "notes": [],
            "config_changed": ["command"], "logger": None, "last_exit": {"code": 1, "text": "x"},
            "leftover_pids": [], "exit_code": 0}
    for items in ([item], [item, dict(item, config_changed=[], last_exit=None)], []):
        assert json_list(items) == json.dumps(items, indent=2)
