import pytest

from orchestrator.engine import FlowError, FlowLibrary, load_flow, load_flow_text, select_flow


def _flow(name):
    return load_flow_text(f"flow: {name}\nsteps:\n  - answer: {{}}\n")


FLOWS = {name: _flow(name) for name in ("welcome", "card", "fallback")}


@pytest.mark.parametrize("variables, destination, expected", [
    ({"pay_flow": "card"}, "2000", "card"),            # the channel variable wins
    ({}, "2000", "welcome"),                            # then the destination map
    ({"pay_flow": ""}, "2000", "welcome"),              # an empty variable is no choice
    ({}, "9999", "fallback"),                           # then the default
    ({"pay_flow": "nope"}, "2000", None),               # a named flow that does not exist: none
])
def test_select_flow(variables, destination, expected):
    chosen = select_flow(variables, destination, FLOWS, {"2000": "welcome"}, "fallback")
    assert (chosen.name if chosen else None) == expected


def test_select_flow_without_default():
    assert select_flow({}, "1", FLOWS, None, None) is None


def test_library_loads_a_directory(tmp_path):
    (tmp_path / "a.yaml").write_text("flow: alpha\nsteps:\n  - answer: {}\n")
    (tmp_path / "b.yml").write_text("flow: beta\nsteps:\n  - answer: {}\n")
    (tmp_path / "notes.txt").write_text("not a flow")
    library = FlowLibrary.from_directory(str(tmp_path))
    assert list(library) == ["alpha", "beta"] and len(library) == 2 and "alpha" in library
    assert library["beta"].source.endswith("b.yml")
    assert library.select({"pay_flow": "beta"}, "1").name == "beta"
    assert library.select({}, "5", {"5": "alpha"}).name == "alpha"


def test_library_lists_every_problem_of_every_file(tmp_path):
    (tmp_path / "a.yaml").write_text("flow: same\nsteps:\n  - answer: {}\n")
    (tmp_path / "b.yaml").write_text("flow: same\nsteps:\n  - answer: {}\n")
    (tmp_path / "c.yaml").write_text("flow: c\nsteps:\n  - plya: x\n  - goto: nowhere\n")
    with pytest.raises(FlowError) as caught:
        FlowLibrary.from_directory(str(tmp_path))
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{tmp_path / 'b.yaml'}:1:7: flow name 'same' is already used by {tmp_path / 'a.yaml'}"
    assert lines[1].startswith(f"{tmp_path / 'c.yaml'}:3:5: unknown step 'plya'")
    assert lines[2] == f"{tmp_path / 'c.yaml'}:4:11: goto target 'nowhere' is not a step id"


def test_load_flow_from_path_or_text(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text("flow: f\nsteps:\n  - id: start\n    answer: {}\n")
    flow = load_flow(str(path))
    assert flow.name == "f" and flow.language == "en" and flow.source == str(path)
    assert flow.steps[0].label == "start" and (flow.steps[0].line, flow.steps[0].column) == (3, 5)
    assert load_flow(path).name == "f"
    assert load_flow("flow: t\nsteps: [{answer: }]\n", source_name="inline.yaml").source == "inline.yaml"
    with pytest.raises(FlowError) as caught:
        load_flow(str(tmp_path / "missing.yaml"))
    assert caught.value.problems[0].message.startswith("cannot read the file")


@pytest.mark.parametrize("variables, destination, expected", [
    ({}, "2000", "card"),            # the first map holding the number (a tenant's own)
    ({}, "3000", "welcome"),         # then the next (the site's)
    ({}, "9999", "fallback"),        # no number: the first default set
    ({"pay_flow": "welcome"}, "2000", "welcome"),
])
def test_select_in_order_takes_the_first_map_and_default_that_answer(variables, destination, expected):
    from orchestrator.engine.selection import select_in_order

    chosen = select_in_order(variables, destination, FLOWS,
                             [{"2000": "card"}, {"2000": "welcome", "3000": "welcome"}],
                             [None, "fallback", "card"])
    assert chosen.name == expected


def test_a_library_of_several_folders_knows_where_each_flow_came_from(tmp_path):
    shared, acme = tmp_path / "shared", tmp_path / "acme"
    shared.mkdir()
    acme.mkdir()
    (shared / "a.yaml").write_text("flow: alpha\nsteps:\n  - answer: {}\n")
    (acme / "b.yaml").write_text("flow: beta\nsteps:\n  - answer: {}\n")
    library = FlowLibrary.from_directories([str(shared), str(acme)])
    assert library.origins == {"alpha": str(shared), "beta": str(acme)}


def test_a_flow_name_is_unique_across_folders(tmp_path):
    shared, acme = tmp_path / "shared", tmp_path / "acme"
    shared.mkdir()
    acme.mkdir()
    (shared / "a.yaml").write_text("flow: alpha\nsteps:\n  - answer: {}\n")
    (acme / "a.yaml").write_text("# acme's\nflow: alpha\nsteps:\n  - answer: {}\n")
    with pytest.raises(FlowError) as raised:
        FlowLibrary.from_directories([str(shared), str(acme), str(tmp_path / "absent")])
    assert [str(p) for p in raised.value.problems] == [
        "%s:2:7: flow name 'alpha' is already used by %s" % (acme / "a.yaml", shared / "a.yaml"),
        "%s:1:1: cannot read the flow directory: No such file or directory" % (tmp_path / "absent")]
