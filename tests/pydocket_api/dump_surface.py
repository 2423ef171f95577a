"""Write pydocket 0.27.2's public API to ``pydocket-0.27.2.json``, beside this file.

Run it with an interpreter where pydocket 0.27.2 is installed, never with our own
venv (pydocket and our package are both imported as ``docket``)::

    /work/ext/pd027/bin/python tests/pydocket_api/dump_surface.py

The JSON is the reference ``tests/test_pydocket_api.py`` checks our package against.
It describes every name of ``surface.SURFACE``: its kind, its parameters (name, kind,
default; annotations are left out on purpose), enum members, TypedDict keys, and for
each class its public methods, properties and attributes.  Members that are
pydocket's own Redis plumbing (``surface.REDIS_INTERNALS``) go to a separate
``redis_internals`` section.  Keys are sorted and indented so a regeneration shows up
as a readable diff.

What counts as public, and how each object is classified, lives in ``surface.py``
and is shared with the test, so both sides are described by the same rules.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import inspect
import json
import platform
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent
EXPECTED_VERSION = "0.27.2"

# ``surface`` is found through its package, ``pydocket_api``, as the test finds it.
sys.path.insert(0, str(HERE.parent))
# Our own package must never shadow pydocket: drop the repository root (and the
# current directory, which ``python -c`` and some runners put first) from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPOSITORY]

from pydocket_api import surface  # noqa: E402  (needs the path set up above)

JSONDict = dict[str, Any]


def load_pydocket() -> Any:
    """Import pydocket and make sure it is 0.27.2 and not our package."""
    import docket

    location = Path(docket.__file__).resolve()
    if REPOSITORY in location.parents:
        raise SystemExit(f"imported our own package from {location}, not pydocket")
    if docket.__version__ != EXPECTED_VERSION:
        raise SystemExit(f"pydocket {docket.__version__} is installed, {EXPECTED_VERSION} wanted")
    return docket


class Dumper:
    """Walks the surface once and builds the two JSON sections."""

    def __init__(self) -> None:
        self.contract: dict[str, JSONDict] = {}
        self.redis_internals: dict[str, JSONDict] = {}
        self.modules: dict[str, JSONDict] = {}
        # id(object) -> canonical entry id, for classes and functions.
        self.canonical: dict[int, str] = {}
        # canonical class id -> names of the members recorded for it (or inherited
        # from a surface base and therefore recorded there).
        self.class_members: dict[str, set[str]] = {}
        self.classes: dict[str, type] = {}

    def run(self) -> None:
        listed: list[tuple[str, str, Any]] = []
        for module_name, names in surface.SURFACE.items():
            module = importlib.import_module(module_name)
            if names is None:
                self.modules[module_name] = {"__all__": sorted(module.__all__)}
            for name in surface.public_names(module, names):
                listed.append((module_name, name, getattr(module, name)))
        self._choose_canonical(listed)
        for module_name, name, value in listed:
            self._module_name(module_name, name, value)
        for class_id in list(self.classes):
            self._class_members(class_id)
        self._check_internals_exist()

    def _choose_canonical(self, listed: list[tuple[str, str, Any]]) -> None:
        """Each class or function is described in full under one path only.

        That is the module that defines it if it is one of the surface modules,
        else the first surface module (in ``SURFACE`` order) that exports it.
        """
        for module_name, name, value in listed:
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            entry_id = f"{module_name}.{name}"
            current = self.canonical.get(id(value))
            if current is None or (
                value.__module__ == module_name and not current.startswith(f"{module_name}.")
            ):
                self.canonical[id(value)] = entry_id

    def _module_name(self, module_name: str, name: str, value: Any) -> None:
        entry_id = f"{module_name}.{name}"
        entry: JSONDict = {
            "module": module_name,
            "path": [name],
            "owner": "module",
            **surface.describe_object(value),
        }
        canonical = self.canonical.get(id(value))
        if canonical is not None and canonical != entry_id:
            entry["same_as"] = canonical
            self.contract[entry_id] = entry
            return
        kind = entry["kind"]
        if surface.has_signature(entry):
            self._add_signature(entry, value, None)
        if kind == "class":
            self.classes[entry_id] = value
        elif kind == "enum":
            entry["members"] = surface.enum_members(value)
            entry["python_bases"] = surface.python_bases(value)
        elif kind == "typeddict":
            entry.update(surface.typeddict_keys(value))
        elif kind == "value" and entry["category"] == "object":
            for member, raw in surface.object_members(value).items():
                self._record_member(entry_id, module_name, [name, member], "object", raw, "class")
        self.contract[entry_id] = entry

    def _add_signature(self, entry: JSONDict, value: Any, raw: Any) -> None:
        try:
            entry["signature"] = surface.callable_parameters(value, entry, raw)
        except (TypeError, ValueError) as error:
            entry["signature"] = None
            entry["signature_note"] = f"inspect.signature cannot read it: {error}"

    def _class_members(self, class_id: str) -> set[str]:
        """Record the public members of one class; returns their names."""
        if class_id in self.class_members:
            return self.class_members[class_id]
        cls = self.classes[class_id]
        entry = self.contract[class_id]
        module_name = entry["module"]
        name = entry["path"][0]

        bases = [
            self.canonical[id(base)]
            for base in cls.__mro__[1:]
            if self.canonical.get(id(base)) in self.classes
        ]
        if bases:
            entry["bases"] = bases
        if surface.python_bases(cls):
            entry["python_bases"] = surface.python_bases(cls)
        # A member a surface base has is checked on that base, plus the subclass
        # relation itself; repeating it on every subclass would only add noise.
        inherited: set[str] = set()
        for base in bases:
            inherited |= self._class_members(base)

        recorded: set[str] = set(inherited)
        enum_names = set(getattr(cls, "__members__", {}))
        for member in dir(cls):
            if not surface.is_public(member) or member in enum_names:
                continue
            owner = surface.defining_class(cls, member)
            if owner is None or surface.is_stdlib_class(owner):
                continue
            raw = inspect.getattr_static(cls, member)
            if member in recorded and not (owner is cls and _is_literal(raw)):
                # Checked on the base; but a subclass's own constant (``Strike.direction
                # = "strike"``) is a value of its own and is checked here as well.
                continue
            self._record_member(class_id, module_name, [name, member], "class", raw, "class")
            recorded.add(member)
        for member in sorted(surface.declared_attributes(cls) - recorded):
            self._record_attribute(class_id, module_name, [name, member], "annotation")
            recorded.add(member)
        if class_id in surface.INSTANCE_FACTORIES:
            instance = surface.make_instance(class_id)
            for member in sorted(surface.instance_attributes(instance) - recorded):
                self._record_attribute(class_id, module_name, [name, member], "instance")
                recorded.add(member)
        self.class_members[class_id] = recorded
        return recorded

    def _section(self, owner_id: str, member: str) -> dict[str, JSONDict]:
        if member in surface.REDIS_INTERNALS.get(owner_id, ()):
            return self.redis_internals
        return self.contract

    def _record_member(
        self, owner_id: str, module_name: str, path: list[str], owner: str, raw: Any, source: str
    ) -> None:
        entry: JSONDict = {
            "module": module_name,
            "path": path,
            "owner": owner,
            **surface.describe_member(raw),
        }
        if entry["kind"] == "attribute":
            entry["source"] = source
            if entry.get("category") == "literal":
                entry["value"] = surface.encode_default(raw)
        if surface.has_signature(entry) and entry["kind"] == "method":
            self._add_signature(entry, None, raw)
        self._section(owner_id, path[-1])[".".join([module_name, *path])] = entry

    def _record_attribute(
        self, owner_id: str, module_name: str, path: list[str], source: str
    ) -> None:
        entry: JSONDict = {
            "module": module_name,
            "path": path,
            "owner": "class",
            "kind": "attribute",
            "source": source,
        }
        self._section(owner_id, path[-1])[".".join([module_name, *path])] = entry

    def _check_internals_exist(self) -> None:
        # A name in REDIS_INTERNALS that pydocket does not have is a typo that would
        # silently move nothing; refuse to write such a file.
        for owner_id, names in surface.REDIS_INTERNALS.items():
            for member in names:
                if f"{owner_id}.{member}" not in self.redis_internals:
                    raise SystemExit(
                        f"REDIS_INTERNALS names {owner_id}.{member}, which is not there"
                    )


def _is_literal(raw: Any) -> bool:
    description = surface.describe_member(raw)
    return description["kind"] == "attribute" and description.get("category") == "literal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE / f"pydocket-{EXPECTED_VERSION}.json",
        help="where to write the JSON (default: %(default)s)",
    )
    arguments = parser.parse_args()

    load_pydocket()
    dumper = Dumper()
    dumper.run()
    document = {
        "about": {
            "generated_by": "tests/pydocket_api/dump_surface.py",
            "pydocket": EXPECTED_VERSION,
            "uncalled-for": importlib.metadata.version("uncalled-for"),
            "python": platform.python_version(),
        },
        "modules": dumper.modules,
        "contract": dumper.contract,
        "redis_internals": dumper.redis_internals,
    }
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    arguments.output.write_text(text, encoding="utf-8")
    print(
        f"wrote {arguments.output}: {len(dumper.contract)} contract entries, "
        f"{len(dumper.redis_internals)} redis internals"
    )


if __name__ == "__main__":
    main()
