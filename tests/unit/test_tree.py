"""The state tree: minimal diffs, revisions, transactions, and ops that replay exactly."""

import copy

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rockd.core import pointer
from rockd.core.tree import Tree, apply

scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5) \
    | st.floats(allow_nan=False, allow_infinity=False)
keys = st.text(alphabet="ab/~c", min_size=1, max_size=3)  # "/" itself means the root here
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)
objects = st.dictionaries(keys, json_values, max_size=5)
paths = st.lists(keys, min_size=1, max_size=3)


def recorder(tree):
    revisions = []
    tree.listen(revisions.append)
    return revisions


def replay(doc, revisions):
    for revision in revisions:
        for body in orjson.loads(revision.wire_ops()):
            apply(doc, body["op"], pointer.parse(body["path"]), body.get("value"))
    return doc


def same(a, b):
    """Equal as JSON: 1 and true and 1.0 differ."""
    def dump(x):
        return orjson.dumps(x, option=orjson.OPT_SORT_KEYS)

    return dump(a) == dump(b)


@settings(max_examples=400, deadline=None)
@given(old=objects, new=objects)
def test_set_root_ops_turn_old_into_new(old, new):
    tree = Tree(copy.deepcopy(old))
    revisions = recorder(tree)
    tree.set("", new)
    assert same(tree.root, new)
    assert same(replay(copy.deepcopy(old), revisions), new)
    assert len(revisions) == (0 if same(old, new) else 1)


@settings(max_examples=400, deadline=None)
@given(old=objects, tokens=paths, value=json_values)
def test_set_at_path_ops_replay_exactly(old, tokens, value):
    tree = Tree(copy.deepcopy(old))
    revisions = recorder(tree)
    path = pointer.join(tuple(tokens))
    try:
        tree.set(path, value)
    except pointer.PointerError:
        # only when something on the way is not an object; nothing must have changed
        assert same(tree.root, old) and not revisions
        return
    assert same(tree.get(path), value)
    assert same(replay(copy.deepcopy(old), revisions), tree.root)


def test_no_change_no_revision():
    tree = Tree({"a": {"b": [1, 2, {"c": True}]}})
    revisions = recorder(tree)
    tree.set("/a", {"b": [1, 2, {"c": True}]})
    tree.delete("/nothing/here")
    assert revisions == [] and tree.rev == 0


def test_minimal_ops_and_types_that_compare_equal_in_python():
    tree = Tree({"a": {"x": 1, "y": 2, "z": 3}, "flag": 1})
    revisions = recorder(tree)
    tree.set("/a", {"x": 1, "y": 5, "w": 0})
    ops = orjson.loads(revisions[-1].wire_ops())
    assert sorted(ops, key=lambda o: o["path"]) == [
        {"op": "add", "path": "/a/w", "value": 0},
        {"op": "replace", "path": "/a/y", "value": 5},
        {"op": "remove", "path": "/a/z"},
    ]
    tree.set("/flag", True)  # 1 == True in Python, not in JSON
    assert orjson.loads(revisions[-1].wire_ops()) == [
        {"op": "replace", "path": "/flag", "value": True}]
    assert tree.rev == 2


def test_missing_parents_are_created_in_one_add():
    tree = Tree()
    revisions = recorder(tree)
    tree.set("/jobs/j1/state", "running")
    assert orjson.loads(revisions[0].wire_ops()) == [
        {"op": "add", "path": "/jobs", "value": {"j1": {"state": "running"}}}]


def test_ops_are_serialised_when_made_not_later():
    tree = Tree()
    revisions = recorder(tree)
    tree.set("/a", {"b": 1})
    tree.set("/a/b", 2)
    assert orjson.loads(revisions[0].wire_ops()) == [{"op": "add", "path": "/a", "value": {"b": 1}}]


def test_transaction_is_one_revision():
    tree = Tree()
    revisions = recorder(tree)
    with tree.transaction():
        tree.set("/a", 1)
        tree.set("/b", 2)
        tree.delete("/a")
    assert tree.rev == 1 and len(revisions) == 1
    assert same(replay({}, revisions), {"b": 2})


def test_transaction_undone_on_error():
    tree = Tree({"keep": {"x": 1}})
    revisions = recorder(tree)
    with pytest.raises(RuntimeError), tree.transaction():
        tree.set("/keep/x", 2)
        tree.set("/new", [1])
        tree.delete("/keep")
        raise RuntimeError
    assert tree.root == {"keep": {"x": 1}} and tree.rev == 0 and not revisions


def test_values_are_copied_in():
    tree = Tree()
    value = {"list": [1]}
    tree.set("/v", value)
    value["list"].append(2)
    assert tree.get("/v") == {"list": [1]}


def test_non_json_values_are_refused():
    tree = Tree()
    with pytest.raises(TypeError):
        tree.set("/v", {1: "int key"})
    with pytest.raises(TypeError):
        tree.set("/v", object())
    assert tree.root == {} and tree.rev == 0


def test_only_the_owner_writes_its_subtree():
    from rockd.core.tree import OwnershipError

    tree = Tree()
    pools = tree.own("/pools", "pools")
    metrics = tree.own(["/system/metrics", "/system/uptime"], "metrics")
    system = tree.own("/system", "system")
    tree.create_claimed()
    assert tree.get("") == {"pools": {}, "system": {"metrics": {}, "uptime": {}}}
    pools.set(("pools", "p1"), {"name": "tank"})
    system.set(("system", "hostname"), "box")
    metrics.set("/system/metrics", {"cpu": 1})
    for write in (lambda: tree.set("/pools/p1/name", "x"),      # no owner's handle
                  lambda: system.set("/pools/p2", {}),          # another owner's path
                  lambda: system.set("/system", {"hostname": "b"}),  # would replace metrics
                  lambda: system.delete("/system/metrics"),
                  lambda: tree.delete("/pools"),
                  lambda: tree.own("/pools", "someone else")):
        with pytest.raises(OwnershipError):
            write()
    assert tree.get("/pools/p1/name") == "tank" and tree.get("/system/metrics") == {"cpu": 1}
    tree.set("/elsewhere", 1)  # no one's: anyone may
    assert tree.owner_of("/system/metrics/cpu") == "metrics"
    assert tree.owner_of("/system/kernel") == "system" and tree.owner_of("/elsewhere") is None


def test_ops_at_or_under_a_volatile_path_are_marked_and_left_out_of_the_journal():
    tree = Tree({"system": {"host": "a"}})
    sampled = tree.own(["/system/metrics", "/system/uptime"], "metrics", volatile=True)
    facts = tree.own("/system", "system")
    revisions = recorder(tree)
    sampled.set("/system/metrics", {"cpu": 0.1})
    with sampled.transaction():
        sampled.set("/system/metrics/cpu", 0.2)
        sampled.set("/system/uptime", 5)
    with tree.transaction():  # a mixed revision: the journal keeps the other op
        sampled.set("/system/uptime", 6)
        facts.set("/system/host", "b")
    assert [[op.volatile for op in r.ops] for r in revisions] == [[True], [True, True],
                                                                  [True, False]]
    assert [r.journal_ops() for r in revisions[:2]] == [None, None]
    assert orjson.loads(revisions[2].journal_ops()) == [
        {"op": "replace", "path": "/system/host", "value": "b"}]
    assert tree.is_volatile(("system", "metrics", "cpu")) and not tree.is_volatile(("system",))
    # an op above a volatile path (here making its missing parent) is journalled whole
    bare = Tree()
    made = recorder(bare)
    bare.own("/system/metrics", "metrics", volatile=True).set("/system/metrics", {"cpu": 1})
    assert [op.wire for op in made[0].ops] == [
        b'{"op":"add","path":"/system","value":{"metrics":{"cpu":1}}}']
    assert made[0].journal_ops() == made[0].wire_ops()
