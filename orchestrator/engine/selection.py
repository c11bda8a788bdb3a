"""Which flow a call runs, and the set of flows a service instance can choose from.

Selection is a pure function of the call's data so it can be tested without a call and
explained in one sentence: the channel variable ``pay_flow`` (set by the dialplan or the
agent panel) wins, then the destination number, then the configured default.
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Mapping, Optional, Sequence

from .flow import Flow, build_flow
from .flow_source import read_flow_file
from .loader import Position
from .problems import FlowError, Problem
from .validate import check_text, flow_files

FLOW_VARIABLE = "pay_flow"


def select_flow(channel_variables: Mapping[str, str], destination_number: Optional[str],
                flows_by_name: Mapping[str, Flow], destination_map: Optional[Mapping[str, str]] = None,
                default: Optional[str] = None) -> Optional[Flow]:
    """The flow for a call, or None.

    A ``pay_flow`` naming no known flow gives None rather than the default: the caller asked
    for something specific, and running a different flow would be worse than the fallback.
    """
    return select_in_order(channel_variables, destination_number, flows_by_name,
                           [destination_map or {}], [default])


def select_in_order(channel_variables: Mapping[str, str], destination_number: Optional[str],
                    flows_by_name: Mapping[str, Flow],
                    destination_maps: Sequence[Mapping[str, str]],
                    defaults: Sequence[Optional[str]]) -> Optional[Flow]:
    """``select_flow`` with several destination maps and defaults, the first that has an
    answer winning (a tenant's own, then the site's): ``pay_flow``, else the first map holding
    the destination number, else the first default set."""
    requested = (channel_variables or {}).get(FLOW_VARIABLE)
    if requested:
        return flows_by_name.get(requested)
    if destination_number is not None:
        for destination_map in destination_maps:
            if destination_number in destination_map:
                return flows_by_name.get(destination_map[destination_number])
    for default in defaults:
        if default:
            return flows_by_name.get(default)
    return None


class FlowLibrary:
    """Every flow of one or more directories, keyed by its ``flow`` name; loads all or none.

    A name is unique across the directories (a tenant's folder and the shared one alike), so a
    flow is one thing wherever it is named: ``origins`` says which directory each came from,
    which is how a tenant's own flows are told from the shared ones (``orchestrator/tenancy``).
    """

    def __init__(self, flows: Mapping[str, Flow], origins: Optional[Mapping[str, str]] = None):
        self.flows: Dict[str, Flow] = dict(flows)
        self.origins: Dict[str, str] = dict(origins or {})

    @classmethod
    def from_directory(cls, directory: str) -> "FlowLibrary":
        """Load and check every *.yaml/*.yml file; raise ``FlowError`` with all problems of all files."""
        return cls.from_directories([directory])

    @classmethod
    def from_directories(cls, directories: Sequence[str]) -> "FlowLibrary":
        """``from_directory`` over several directories at once, every problem of all of them
        (a name used twice, in one directory or two, among them)."""
        problems: List[Problem] = []
        flows: Dict[str, Flow] = {}
        origins: Dict[str, str] = {}
        for directory in directories:
            try:
                files = flow_files(directory)
            except OSError as exc:
                problems.append(Problem(directory, 1, 1, "cannot read the flow directory: "
                                        f"{exc.strerror or exc}"))
                continue
            problems.extend(cls._load(directory, files, flows, origins))
        if problems:
            raise FlowError(problems)
        return cls(flows, origins)

    @staticmethod
    def _load(directory: str, files: Sequence[str], flows: Dict[str, Flow],
              origins: Dict[str, str]) -> List[Problem]:
        problems: List[Problem] = []
        for path in files:
            try:
                text = read_flow_file(path)
            except FlowError as exc:
                problems.extend(exc.problems)
                continue
            result = check_text(text, path)
            if result.problems:
                problems.extend(result.problems)
                continue
            flow = build_flow(result)
            if flow.name in flows:
                assert result.marks is not None  # the check found no problems
                position: Position = result.marks.value_position(("flow",))
                problems.append(Problem(path, position.line, position.column,
                                        f"flow name '{flow.name}' is already used by {flows[flow.name].source}"))
                continue
            flows[flow.name] = flow
            origins[flow.name] = directory
        return problems

    def __contains__(self, name: str) -> bool:
        return name in self.flows

    def __getitem__(self, name: str) -> Flow:
        return self.flows[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.flows))

    def __len__(self) -> int:
        return len(self.flows)

    def get(self, name: str) -> Optional[Flow]:
        return self.flows.get(name)

    def select(self, channel_variables: Mapping[str, str], destination_number: Optional[str],
               destination_map: Optional[Mapping[str, str]] = None, default: Optional[str] = None) -> Optional[Flow]:
        """``select_flow`` over this library."""
        return select_flow(channel_variables, destination_number, self.flows, destination_map, default)
