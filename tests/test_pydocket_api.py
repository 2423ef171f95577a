"""Name-by-name check that our ``docket`` offers pydocket 0.27.2's public API.

This module owns the drop-in-replacement checklist: for every public name of
pydocket 0.27.2 (recorded in ``tests/pydocket_api/pydocket-0.27.2.json`` by
``tests/pydocket_api/dump_surface.py``) it checks that our package has it, of the same
kind (class, function, coroutine function, async generator, property, classmethod...),
with parameters a pydocket caller can use unchanged, the same enum members, the same
TypedDict keys, the same subclass relations and the same object under every import
path.  One test id per name or class member, e.g.
``test_signature[docket.docket.Docket.add_many]``.

pydocket cannot be imported here: it is also called ``docket``.  The JSON is the
reference, and ``pydocket_api.surface`` holds the classification rules both sides
share.  Regenerate the JSON with::

    /work/ext/pd027/bin/python tests/pydocket_api/dump_surface.py

Where we deliberately differ from pydocket, add the test id to ``KNOWN_DIFFERENCES``
with the reason; that test then runs as ``xfail(strict=True)``, so an entry that is no
longer needed fails loudly.  pydocket's Redis plumbing (``Docket.stream_key``,
``Execution.claim``...) is only reported, by ``test_redis_internals``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import sys
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydocket_api import surface

JSONDict = dict[str, Any]

REFERENCE = Path(__file__).parent / "pydocket_api" / "pydocket-0.27.2.json"
DOCUMENT: JSONDict = json.loads(REFERENCE.read_text(encoding="utf-8"))
CONTRACT: dict[str, JSONDict] = DOCUMENT["contract"]
REDIS_INTERNALS: dict[str, JSONDict] = DOCUMENT["redis_internals"]
MODULES_WITH_ALL: dict[str, JSONDict] = DOCUMENT["modules"]

# Test id -> why we deliberately differ from pydocket 0.27.2 there.  Each listed test
# is xfail(strict=True): when it starts passing, the entry must go.  Only differences
# that fix a defect documented in /work/shared/reference/pydocket-semantics.md §9, or
# that the team has decided on, belong here, each with its reason.
KNOWN_DIFFERENCES: dict[str, str] = {
    "test_name_exists[docket.dependencies.ConcurrencyLimit.worker_lifecycle]": (
        "pydocket's worker enters this to start a cancel subscriber and a safeguard "
        "task for parked runs; ours parks in storage and needs no worker-scoped setup"
    ),
    "test_signature[docket.worker.Worker.run]": (
        "pydocket's Worker.run defaults minimum_check_interval to 100 ms against 250 ms "
        "for Worker() (its known inconsistency, reference §9.2.16); ours is 250 ms in both"
    ),
}


# ---------------------------------------------------------------------------
# Finding our side of an entry
# ---------------------------------------------------------------------------


class Missing(Exception):
    """Our package has no counterpart for an entry; the message says what is missing."""


class OwnerMissing(Missing):
    """The class or object holding a member is itself missing (reported on its own id)."""


@dataclass
class Found:
    """Our counterpart of one entry."""

    value: Any
    """The object itself; for a class member, what ``getattr_static`` returned."""
    description: JSONDict
    """``surface.describe_object``/``describe_member`` applied to it."""
    where: str
    """How it was found: module, static (on the class), instance or annotation."""


def parent_id(entry: JSONDict) -> str:
    return ".".join([entry["module"], entry["path"][0]])


def import_module(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise Missing(f"module {name} cannot be imported: {error}") from error


@functools.cache
def sample_instance(class_id: str) -> tuple[Any, str | None]:
    """One instance built the way the dump built pydocket's, or why there is none."""
    if class_id not in surface.INSTANCE_FACTORIES:
        return None, "no sample instance is made for this class"
    try:
        return surface.make_instance(class_id), None
    except Exception as error:  # any failure is reported, not raised
        return None, f"building a sample {class_id} failed: {type(error).__name__}: {error}"


def resolve(entry: JSONDict) -> Found:
    """Our object for ``entry``, or ``Missing`` saying why there is none."""
    module = import_module(entry["module"])
    name = entry["path"][0]
    if len(entry["path"]) == 1:
        if not hasattr(module, name):
            raise Missing(f"{entry['module']} has no {name!r}")
        value = getattr(module, name)
        return Found(value, surface.describe_object(value), "module")

    member = entry["path"][1]
    owner_id = parent_id(entry)
    if not hasattr(module, name):
        raise OwnerMissing(f"{owner_id} is missing (see test_name_exists[{owner_id}])")
    owner = getattr(module, name)
    if entry["owner"] == "object":
        owner_type = type(owner)
    elif inspect.isclass(owner):
        owner_type = owner
    else:
        raise OwnerMissing(f"{owner_id} is not a class (see test_kind[{owner_id}])")

    try:
        raw = inspect.getattr_static(owner_type, member)
    except AttributeError:
        pass
    else:
        return Found(raw, surface.describe_member(raw), "static")

    if entry["kind"] not in {"attribute", "property"}:
        raise Missing(f"{owner_id} has no {member!r}")
    # Attributes set in __init__ are visible only on an instance; a pydocket
    # property may be a plain instance attribute on our side and vice versa.
    instance, why_not = sample_instance(owner_id)
    if instance is not None:
        try:
            present = hasattr(instance, member)
        except Exception:  # a property that raises still exists
            present = True
        if present:
            return Found(None, {"kind": "attribute"}, "instance")
    if member in surface.declared_attributes(owner_type):
        return Found(None, {"kind": "attribute"}, "annotation")
    detail = f"; {why_not}" if why_not else " (checked on a sample instance too)"
    raise Missing(f"{owner_id} has no attribute {member!r}{detail}")


def resolve_or_skip(entry_id: str, entry: JSONDict) -> Found:
    """For the checks that need the name: a missing one is test_name_exists's failure."""
    try:
        return resolve(entry)
    except Missing as missing:
        pytest.skip(f"{missing} (see test_name_exists[{entry_id}])")


# ---------------------------------------------------------------------------
# Parametrization
# ---------------------------------------------------------------------------


def cases(test_name: str, ids: Iterable[str]) -> list[Any]:
    """``pytest.param`` per id, xfail(strict=True) where KNOWN_DIFFERENCES lists it."""
    params: list[Any] = []
    for entry_id in sorted(ids):
        reason = KNOWN_DIFFERENCES.get(f"{test_name}[{entry_id}]")
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(entry_id, id=entry_id, marks=marks))
    return params


def ids_where(predicate: Callable[[JSONDict], bool]) -> list[str]:
    return [entry_id for entry_id, entry in CONTRACT.items() if predicate(entry)]


def canonical(entry: JSONDict) -> bool:
    return "same_as" not in entry


NAME_IDS = list(CONTRACT)
KIND_IDS = NAME_IDS
SIGNATURE_IDS = ids_where(lambda e: canonical(e) and e.get("signature") is not None)
VALUE_IDS = ids_where(lambda e: "value" in e or e.get("category") == "callables")
ENUM_IDS = ids_where(lambda e: canonical(e) and e["kind"] == "enum")
TYPEDDICT_IDS = ids_where(lambda e: canonical(e) and e["kind"] == "typeddict")
ALIAS_IDS = ids_where(lambda e: not canonical(e))
BASES_IDS = ids_where(lambda e: canonical(e) and ("bases" in e or "python_bases" in e))

ALL_TEST_IDS: set[str] = {
    f"{test}[{entry_id}]"
    for test, ids in [
        ("test_name_exists", NAME_IDS),
        ("test_kind", KIND_IDS),
        ("test_signature", SIGNATURE_IDS),
        ("test_value", VALUE_IDS),
        ("test_enum_members", ENUM_IDS),
        ("test_typeddict_keys", TYPEDDICT_IDS),
        ("test_same_object", ALIAS_IDS),
        ("test_bases", BASES_IDS),
        ("test_all_exports", MODULES_WITH_ALL),
    ]
    for entry_id in ids
}


# ---------------------------------------------------------------------------
# Comparisons
# ---------------------------------------------------------------------------


def kind_problem(expected: JSONDict, actual: JSONDict) -> str | None:
    """Why a pydocket caller could not use ours the way it used pydocket's, or None."""
    wanted, got = expected["kind"], actual["kind"]
    if wanted in {"attribute", "property"}:
        # Read either way with ``obj.name``.  A class-level ContextVar (fastmcp's
        # ``Dependency.execution.get()``) must really be a ContextVar on the class.
        if got not in {"attribute", "property"}:
            return f"pydocket's is a {wanted}, ours is a {describe(actual)}"
        if expected.get("category") == "ContextVar" and actual.get("category") != "ContextVar":
            return f"pydocket's is a class-level ContextVar, ours is a {describe(actual)}"
        return None
    if wanted == "method":
        if got != "method":
            return f"pydocket's is a {describe(expected)}, ours is a {describe(actual)}"
        if (expected["binding"], expected["flavor"]) != (actual["binding"], actual["flavor"]):
            return f"pydocket's is a {describe(expected)}, ours is a {describe(actual)}"
        return None
    if wanted == "function":
        # A class called like the function is as good as the function; pydocket's
        # ``CurrentDocket()`` returns an object callers only pass along.
        if got == "class" and expected["flavor"] == "plain":
            return None
        if got != "function" or actual["flavor"] != expected["flavor"]:
            return f"pydocket's is a {describe(expected)}, ours is a {describe(actual)}"
        return None
    if wanted == "class":
        if got != "class":
            return f"pydocket's is a class, ours is a {describe(actual)}"
        if expected["exception"] and not actual["exception"]:
            return "pydocket's is an exception class, ours is not"
        return None
    if wanted == "value":
        if got != "value" and not (expected["category"] == "type alias" and got == "class"):
            return f"pydocket's is a {describe(expected)}, ours is a {describe(actual)}"
        if got == "value" and expected["category"] != actual["category"]:
            return f"pydocket's is a {describe(expected)}, ours is a {describe(actual)}"
        if expected["category"] == "object" and expected["type"] != actual.get("type"):
            return f"pydocket's is a {expected['type']} object, ours is a {describe(actual)}"
        return None
    if wanted != got:
        return f"pydocket's is a {describe(expected)}, ours is a {describe(actual)}"
    return None


def describe(description: JSONDict) -> str:
    kind = description["kind"]
    if kind == "method":
        binding = {"instance": "", "class": "classmethod ", "static": "staticmethod "}[
            description["binding"]
        ]
        return f"{binding}{description['flavor']} method".replace("plain ", "")
    if kind == "function":
        return f"{description['flavor']} function".replace("plain ", "")
    if kind in {"value", "attribute"} and "category" in description:
        detail = description.get("type") or description["category"]
        return f"{kind} ({detail})"
    return str(kind)


def our_value(entry: JSONDict, found: Found) -> Any:
    """The current value of an attribute or module value of ours."""
    if found.where in {"module", "static"}:
        return found.value
    instance, why_not = sample_instance(parent_id(entry))
    if instance is None:
        pytest.fail(f"cannot read {'.'.join(entry['path'])}: {why_not}")
    return getattr(instance, entry["path"][-1])


def our_object(entry_id: str) -> Any:
    return resolve(CONTRACT[entry_id]).value


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry_id", cases("test_name_exists", NAME_IDS))
def test_name_exists(entry_id: str) -> None:
    entry = CONTRACT[entry_id]
    try:
        resolve(entry)
    except OwnerMissing as missing:
        pytest.skip(str(missing))
    except Missing as missing:
        pytest.fail(str(missing))


# Objects that are uncalled-for's own.  Python 3.10 gets uncalled-for 0.5
# (0.6 needs 3.11), whose cache is a dict and whose CallArgument has no
# ``default``; pydocket on 3.10 has exactly the same.  There they must be the
# very objects uncalled-for uses; on 3.11 and later they are checked in full.
SHARED_WITH_UNCALLED_FOR = {
    "docket.dependencies._parameter_cache": ("uncalled_for.introspection", "_parameter_cache"),
    "docket.dependencies.CallArgument": ("uncalled_for", "CallArgument"),
}


def uncalled_fors_own(entry_id: str) -> bool:
    """On Python 3.10, whether ``entry_id`` is (a member of) uncalled-for's own object,
    checked by identity instead of by shape."""
    if sys.version_info >= (3, 11):
        return False
    for name, (module, attribute) in SHARED_WITH_UNCALLED_FOR.items():
        if entry_id == name or entry_id.startswith(name + "."):
            ours = resolve(CONTRACT[name]).value
            assert ours is getattr(importlib.import_module(module), attribute)
            return True
    return False


@pytest.mark.parametrize("entry_id", cases("test_kind", KIND_IDS))
def test_kind(entry_id: str) -> None:
    entry = CONTRACT[entry_id]
    found = resolve_or_skip(entry_id, entry)
    if uncalled_fors_own(entry_id):
        return
    problem = kind_problem(entry, found.description)
    assert problem is None, problem


@pytest.mark.parametrize("entry_id", cases("test_signature", SIGNATURE_IDS))
def test_signature(entry_id: str) -> None:
    entry = CONTRACT[entry_id]
    found = resolve_or_skip(entry_id, entry)
    if uncalled_fors_own(entry_id):
        return
    if not surface.has_signature(found.description):
        pytest.fail(f"ours is a {describe(found.description)}, which takes no arguments")
    is_member = found.description["kind"] == "method"
    try:
        actual = surface.callable_parameters(
            None if is_member else found.value,
            found.description,
            found.value if is_member else None,
            live=True,
        )
    except (TypeError, ValueError) as error:
        pytest.fail(f"cannot read our signature: {error}")
    # Only Python calls dunders such as ``__aexit__``, always positionally.
    names_matter = not entry["path"][-1].startswith("__")
    problems = surface.signature_problems(entry["signature"], actual, names_matter=names_matter)
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("entry_id", cases("test_value", VALUE_IDS))
def test_value(entry_id: str) -> None:
    entry = CONTRACT[entry_id]
    found = resolve_or_skip(entry_id, entry)
    value = our_value(entry, found)
    if "value" in entry:
        problem = surface.default_problem(value, entry["value"])
        assert problem is None, f"value {problem}"
    else:
        names = sorted(getattr(item, "__name__", repr(item)) for item in value)
        assert names == entry["items"], f"holds {names}, pydocket's holds {entry['items']}"


@pytest.mark.parametrize("entry_id", cases("test_enum_members", ENUM_IDS))
def test_enum_members(entry_id: str) -> None:
    entry = CONTRACT[entry_id]
    ours = resolve_or_skip(entry_id, entry).value
    problems: list[str] = []
    for name, wanted in entry["members"].items():
        member = getattr(ours, "__members__", {}).get(name)
        if member is None:
            problems.append(f"no member {name}")
            continue
        problem = surface.default_problem(member.value, wanted)
        if problem is not None:
            problems.append(f"{name} value {problem}")
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("entry_id", cases("test_typeddict_keys", TYPEDDICT_IDS))
def test_typeddict_keys(entry_id: str) -> None:
    entry = CONTRACT[entry_id]
    ours = resolve_or_skip(entry_id, entry).value
    keys = sorted(getattr(ours, "__annotations__", {}))
    required = sorted(getattr(ours, "__required_keys__", ()))
    assert keys == entry["keys"], f"keys {keys}, pydocket's {entry['keys']}"
    assert required == entry["required"], f"required {required}, pydocket's {entry['required']}"


@pytest.mark.parametrize("entry_id", cases("test_same_object", ALIAS_IDS))
def test_same_object(entry_id: str) -> None:
    """``from docket import Execution`` and ``from docket.execution import Execution``
    must be one class, or ``isinstance`` and ``except`` break across import paths."""
    entry = CONTRACT[entry_id]
    ours = resolve_or_skip(entry_id, entry).value
    try:
        target = our_object(entry["same_as"])
    except Missing as missing:
        pytest.skip(f"{missing} (see test_name_exists[{entry['same_as']}])")
    assert ours is target, f"{entry_id} is not the same object as {entry['same_as']}"


@pytest.mark.parametrize("entry_id", cases("test_bases", BASES_IDS))
def test_bases(entry_id: str) -> None:
    """Subclass relations decide ``isinstance`` checks and what a custom dependency
    inherits (``class MyRuntime(Runtime)``) and what ``except`` catches."""
    entry = CONTRACT[entry_id]
    ours = resolve_or_skip(entry_id, entry).value
    if not inspect.isclass(ours):
        pytest.skip(f"ours is not a class (see test_kind[{entry_id}])")
    problems: list[str] = []
    for base_id in entry.get("bases", []):
        try:
            base = our_object(base_id)
        except Missing:
            problems.append(f"base {base_id} is missing")
            continue
        if not (inspect.isclass(base) and issubclass(ours, base)):
            problems.append(f"not a subclass of {base_id}")
    ours_python = set(surface.python_bases(ours))
    for name in entry.get("python_bases", []):
        if name not in ours_python:
            problems.append(f"not a subclass of {name}")
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("module_name", cases("test_all_exports", MODULES_WITH_ALL))
def test_all_exports(module_name: str) -> None:
    """``from docket import *`` must bring every name pydocket's ``__all__`` brings."""
    try:
        module = import_module(module_name)
    except Missing as missing:
        pytest.fail(str(missing))
    ours = set(getattr(module, "__all__", ()))
    missing = sorted(set(MODULES_WITH_ALL[module_name]["__all__"]) - ours)
    assert not missing, f"{module_name}.__all__ lacks {missing}"


def test_known_differences_name_real_tests() -> None:
    """A mistyped KNOWN_DIFFERENCES key would silently excuse nothing."""
    unknown = sorted(set(KNOWN_DIFFERENCES) - ALL_TEST_IDS)
    assert not unknown, f"KNOWN_DIFFERENCES names tests that do not exist: {unknown}"


# ---------------------------------------------------------------------------
# The comparison rules themselves: a lenient rule would pass everything silently
# ---------------------------------------------------------------------------


def _reference(function: Callable[..., Any]) -> list[JSONDict]:
    """``function``'s parameters as the JSON holds them (a real JSON round trip)."""
    description = surface.describe_object(function)
    return json.loads(json.dumps(surface.callable_parameters(function, description)))


def _live(function: Callable[..., Any]) -> list[JSONDict]:
    return surface.callable_parameters(function, surface.describe_object(function), live=True)


def _theirs(a: Any, b: Any = 1, *, c: timedelta = timedelta(seconds=2)) -> None: ...


def _ours_compatible(
    a: Any, b: float = 1.0, *, c: timedelta = timedelta(milliseconds=2000), d: Any = None
) -> None: ...


def _renamed(x: Any, b: Any = 1, *, c: timedelta = timedelta(seconds=2)) -> None: ...


def _added_positional(
    a: Any, b: Any = 1, extra: Any = None, *, c: timedelta = timedelta(seconds=2)
) -> None: ...


def _added_required_keyword(
    a: Any, b: Any = 1, *, c: timedelta = timedelta(seconds=2), d: Any
) -> None: ...


def _hidden_by_kwargs(a: Any, b: Any = 1, **kwargs: Any) -> None: ...


def _other_default(a: Any, b: Any = 1, *, c: timedelta = timedelta(seconds=3)) -> None: ...


def _bool_default(a: Any, b: Any = True, *, c: timedelta = timedelta(seconds=2)) -> None: ...


def _made_keyword_only(a: Any, *, b: Any = 1, c: timedelta = timedelta(seconds=2)) -> None: ...


def _made_positional(a: Any, b: Any = 1, c: timedelta = timedelta(seconds=2)) -> None: ...


def test_rules_accept_compatible_signature() -> None:
    # Keyword-only addition with a default, equal defaults of another spelling.
    assert surface.signature_problems(_reference(_theirs), _live(_ours_compatible)) == []


@pytest.mark.parametrize(
    ("ours", "complaint"),
    [
        pytest.param(ours, complaint, id=ours.__name__.lstrip("_"))
        for ours, complaint in [
            (_renamed, "positional parameter #1 is 'x'"),
            (_added_positional, "added positional parameter 'extra'"),
            (_added_required_keyword, "'d' has no default"),
            (_hidden_by_kwargs, "catch-all does not count"),
            (_other_default, "'c' default"),
            (_bool_default, "'b' default"),
            (_made_keyword_only, "'b' is KEYWORD_ONLY"),
            (_made_positional, "'c' is POSITIONAL_OR_KEYWORD"),
        ]
    ],
)
def test_rules_reject_incompatible_signature(ours: Callable[..., Any], complaint: str) -> None:
    problems = surface.signature_problems(_reference(_theirs), _live(ours))
    assert any(complaint in problem for problem in problems), problems


def test_rules_kinds() -> None:
    prop: JSONDict = {"kind": "property"}
    attribute: JSONDict = {"kind": "attribute"}
    coroutine: JSONDict = {"kind": "method", "binding": "instance", "flavor": "coroutine"}
    plain: JSONDict = {"kind": "method", "binding": "instance", "flavor": "plain"}
    classmethod_: JSONDict = {"kind": "method", "binding": "class", "flavor": "coroutine"}
    function: JSONDict = {"kind": "function", "flavor": "plain"}
    klass: JSONDict = {"kind": "class", "exception": False}
    assert kind_problem(prop, attribute) is None
    assert kind_problem(attribute, prop) is None
    assert kind_problem(function, klass) is None
    assert kind_problem(prop, plain) is not None
    assert kind_problem(coroutine, plain) is not None
    assert kind_problem(classmethod_, coroutine) is not None
    assert kind_problem(klass, function) is not None


def test_redis_internals() -> None:
    """Informational: which of pydocket's Redis plumbing names we also have.

    They are not part of the contract until someone decides otherwise; this test
    never fails, it is skipped with the list.
    """
    present: list[str] = []
    absent: list[str] = []
    for entry_id, entry in sorted(REDIS_INTERNALS.items()):
        try:
            resolve(entry)
        except Missing:
            absent.append(entry_id)
        else:
            present.append(entry_id)
    pytest.skip(
        f"pydocket Redis internals, not checked: {len(present)} present "
        f"({', '.join(present) or 'none'}); {len(absent)} absent ({', '.join(absent) or 'none'})"
    )
