"""The rules that turn a ``docket`` package into a description of its public API.

This module owns *what* the pydocket 0.27.2 compatibility check looks at and *how*
an object is described: which module names form the contract, which of pydocket's
names are its own Redis plumbing, how a member is classified (method, coroutine,
property, attribute, ...), how a signature and its defaults are encoded, and how two
descriptions are compared.

It is deliberately neutral about which ``docket`` it describes: ``dump_surface.py``
applies it to pydocket 0.27.2 (in an interpreter where pydocket is installed) and
``tests/test_pydocket_api.py`` applies the very same rules to our package, so both
sides are always classified alike.  pydocket and our package share the import name
``docket``, so the two can never be imported into one interpreter; nothing here
imports ``docket`` at module level.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

JSONDict = dict[str, Any]

# The modules a pydocket user imports from, and the names taken from each; ``None``
# means "the module's ``__all__``".  The order matters: an object reachable under
# several paths (``docket.Docket`` and ``docket.docket.Docket``) is described in full
# under the first module listed here that holds it (its *canonical* path), and the
# other paths only have to name the very same object.
SURFACE: dict[str, tuple[str, ...] | None] = {
    "docket.docket": ("Docket", "DocketSnapshot", "RunningExecution", "TaskCall", "WorkerInfo"),
    "docket.worker": ("Worker",),
    "docket.execution": (
        "Execution",
        "ExecutionState",
        "Disposition",
        "ExecutionCancelled",
        "ExecutionProgress",
        "StateEvent",
        "ProgressEvent",
        "TaskCall",
    ),
    "docket.strikelist": ("Operator", "Strike", "Restore", "StrikeList", "StrikeInstruction"),
    "docket.agenda": ("Agenda",),
    "docket.annotations": ("Annotation", "Logged"),
    "docket.tasks": ("trace", "fail", "sleep", "standard_tasks"),
    "docket.testing": (
        "assert_task_scheduled",
        "assert_task_not_scheduled",
        "assert_task_count",
        "assert_no_tasks",
    ),
    "docket.dependencies": None,
    "docket": None,
}

# Members of pydocket classes that exist to drive its own Redis data layout: key and
# channel names, stream-message codecs, the claim/mark/schedule steps of its worker
# protocol.  They are public by spelling only; they go to a separate "redis_internals"
# section so each can be decided on deliberately instead of failing the contract.
# Keyed by the canonical id of the class that defines them.
REDIS_INTERNALS: dict[str, frozenset[str]] = {
    "docket.docket.Docket": frozenset(
        {
            "cancel_channel",  # pub/sub channel name
            "credential_provider",  # a redis-py CredentialProvider
            "key",  # builds a Redis key from the prefix
            "known_task_key",
            "parked_task_key",
            "prefix",  # the Redis key prefix
            "queue_key",
            "redelivery_sweep_key",
            "redis",  # yields a redis-py client
            "results_collection",
            "runs_key",
            "schedule",  # writes one prepared Execution to Redis
            "stream_id_key",
            "stream_key",
            "task_workers_set",
            "worker_group_name",  # the stream consumer group
            "worker_tasks_set",
            "workers_set",
        }
    ),
    "docket.worker.Worker": frozenset(
        {
            "message_batch",  # COUNT of each XREADGROUP
            "task_workers_set",
            "worker_tasks_set",
            "workers_set",
        }
    ),
    "docket.execution.Execution": frozenset(
        {
            "as_message",  # the stream message codec
            "claim",
            "from_message",
            "incoming_span_links",  # built from the stream message's traceparent
            "mark_as_cancelled",
            "mark_as_completed",
            "mark_as_failed",
            "message_id",  # the stream message id
            "result_key",  # the Redis key of the stored result
            "schedule",
        }
    ),
    "docket.dependencies.ConcurrencyLimit": frozenset({"concurrency_key"}),  # its Redis key
    "docket.strikelist.StrikeInstruction": frozenset({"as_message", "from_message"}),
    "docket.strikelist.StrikeList": frozenset({"prefix", "strike_key"}),
}

# Dunder members that are part of how a class is *used* (``async with``, ``len()``,
# iteration, calling, item access); every other name starting with ``_`` is private.
PUBLIC_DUNDERS = frozenset(
    {
        "__aenter__",
        "__aexit__",
        "__aiter__",
        "__call__",
        "__contains__",
        "__getitem__",
        "__iter__",
        "__len__",
        "__setitem__",
    }
)

# inspect.Parameter kinds, by name, as they appear in the JSON.
POSITIONAL_KINDS = frozenset({"POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD"})


def is_public(name: str) -> bool:
    return not name.startswith("_") or name in PUBLIC_DUNDERS


def is_stdlib_class(cls: type) -> bool:
    """Whether ``cls`` comes from Python itself (``object``, ``str``, ``Enum``, ``ABC``...).

    Members inherited from those (``str.upper`` on a str-enum, ``dict.get`` on a
    TypedDict, ``Exception.with_traceback``) are Python's API, not pydocket's.
    """
    top = cls.__module__.split(".")[0]
    return top == "builtins" or top in sys.stdlib_module_names


# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------


def flavor(function: Any) -> str:
    """How a callable is called: ``await f()``, ``async for x in f()``, or ``f()``."""
    if inspect.isasyncgenfunction(function):
        return "async generator"
    if inspect.iscoroutinefunction(function):
        return "coroutine"
    return "plain"


def value_category(value: Any) -> JSONDict:
    """Describe a non-callable object: enough to check a replacement is of the same sort."""
    if isinstance(value, ContextVar):
        return {"category": "ContextVar"}
    if isinstance(value, (bool, int, float, str, type(None))):
        return {"category": "literal", "type": type(value).__name__}
    if isinstance(value, (list, tuple)) and value and all(callable(item) for item in value):
        return {
            "category": "callables",
            "type": type(value).__name__,
            "items": sorted(getattr(item, "__name__", repr(item)) for item in value),
        }
    if _is_type_alias(value):
        return {"category": "type alias"}
    return {"category": "object", "type": type(value).__name__}


def _is_type_alias(value: Any) -> bool:
    # ``Callable[..., X]``, ``X | None``, ``typing.Union[...]``: the typing module's own
    # alias objects.  Which private alias class a library uses is not part of its API.
    return type(value).__module__ in {
        "typing",
        "types",
        "collections.abc",
        "_collections_abc",
    } and (hasattr(value, "__origin__") or isinstance(value, types.UnionType))


def is_typeddict(value: Any) -> bool:
    if typing.is_typeddict(value):
        return True
    try:  # typing_extensions has its own TypedDict class on older Pythons
        import typing_extensions
    except ImportError:  # pragma: no cover - it is installed on both sides today
        return False
    return bool(typing_extensions.is_typeddict(value))


# Python's own classes that only shape how a class is built, not how it is used.
_INVISIBLE_BASES = frozenset({"builtins.object", "abc.ABC", "typing.Generic", "typing.Protocol"})


def python_bases(cls: type) -> list[str]:
    """Python's own classes ``cls`` derives from (``builtins.str``, ``builtins.Exception``).

    They decide what ``isinstance(x, str)`` and ``except Exception`` catch.
    """
    names = [
        f"{klass.__module__}.{klass.__qualname__}"
        for klass in cls.__mro__[1:]
        if is_stdlib_class(klass)
    ]
    return [name for name in names if name not in _INVISIBLE_BASES]


def describe_object(value: Any) -> JSONDict:
    """Classify a module-level name."""
    if isinstance(value, types.ModuleType):
        return {"kind": "module"}
    if inspect.isclass(value):
        if is_typeddict(value):
            return {"kind": "typeddict"}
        if issubclass(value, enum.Enum):
            return {"kind": "enum"}
        return {"kind": "class", "exception": issubclass(value, BaseException)}
    if inspect.isfunction(value) or inspect.isbuiltin(value) or inspect.ismethod(value):
        return {"kind": "function", "flavor": flavor(value)}
    return {"kind": "value", **value_category(value)}


def describe_member(raw: Any) -> JSONDict:
    """Classify a class member as found by ``inspect.getattr_static``."""
    if isinstance(raw, staticmethod):
        return {"kind": "method", "binding": "static", "flavor": flavor(raw.__func__)}
    if isinstance(raw, classmethod):
        return {"kind": "method", "binding": "class", "flavor": flavor(raw.__func__)}
    if isinstance(raw, (property, functools.cached_property)):
        return {"kind": "property"}
    if inspect.isfunction(raw):
        return {"kind": "method", "binding": "instance", "flavor": flavor(raw)}
    if inspect.isclass(raw):
        return {"kind": "class"}
    if type(raw).__name__ in {"member_descriptor", "getset_descriptor"}:
        # A ``__slots__`` entry: an instance attribute declared on the class.
        return {"kind": "attribute"}
    return {"kind": "attribute", **value_category(raw)}


def defining_class(cls: type, name: str) -> type | None:
    """The class in ``cls``'s MRO whose own namespace holds ``name``."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return None


def declared_attributes(cls: type) -> set[str]:
    """Public names declared by annotation on ``cls`` or its non-Python ancestors.

    Covers dataclass fields and attributes a class announces with ``name: type``.
    """
    names: set[str] = set()
    for klass in cls.__mro__:
        if is_stdlib_class(klass):
            continue
        names.update(name for name in vars(klass).get("__annotations__", {}) if is_public(name))
    return names


# ---------------------------------------------------------------------------
# Signatures and defaults
# ---------------------------------------------------------------------------

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def encode_default(value: Any) -> JSONDict:
    """A JSON description of a parameter default that can be compared by value later."""
    if value is None or isinstance(value, (bool, str)):
        return {"literal": value, "repr": repr(value)}
    if isinstance(value, (int, float)):
        return {"literal": value, "repr": repr(value)}
    if isinstance(value, enum.Enum):
        return {
            "enum": type(value).__name__,
            "name": value.name,
            "value": encode_default(value.value),
            "repr": repr(value),
        }
    if isinstance(value, timedelta):
        return {"timedelta_seconds": value.total_seconds(), "repr": repr(value)}
    if isinstance(value, tzinfo):
        offset = _fixed_offset(value)
        if offset is not None:
            return {"fixed_offset_seconds": offset.total_seconds(), "repr": repr(value)}
    if isinstance(value, (tuple, list)) and all(
        "opaque" not in encode_default(item) for item in value
    ):
        return {
            "sequence": type(value).__name__,
            "items": [encode_default(item) for item in value],
            "repr": repr(value),
        }
    # A dependency instance (``TaskLogger()``, ``Retry(attempts=2)``), a function, a
    # sentinel: not comparable across two implementations, so only its presence counts.
    return {"opaque": type(value).__name__, "repr": _ADDRESS.sub("", repr(value))}


def _fixed_offset(zone: tzinfo) -> timedelta | None:
    """The UTC offset of a zone that has the same one in winter and summer."""
    winter = datetime(2024, 1, 15, 12, tzinfo=zone).utcoffset()
    summer = datetime(2024, 7, 15, 12, tzinfo=zone).utcoffset()
    return winter if winter is not None and winter == summer else None


def default_problem(actual: Any, expected: JSONDict) -> str | None:
    """Why ``actual`` is not the default pydocket recorded as ``expected``, or None."""
    if "opaque" in expected:
        return None
    if "literal" in expected:
        wanted = expected["literal"]
        if isinstance(actual, enum.Enum):
            # pydocket writes ``operator="=="`` where Operator is a str-enum; an
            # ``Operator.EQUAL`` default means the same to every caller.
            actual = actual.value
        same_type = (type(actual) is type(wanted)) or (
            isinstance(actual, (int, float))
            and isinstance(wanted, (int, float))
            and not isinstance(actual, bool)
            and not isinstance(wanted, bool)
        )
        return None if same_type and actual == wanted else f"{actual!r} != {expected['repr']}"
    if "enum" in expected:
        if isinstance(actual, enum.Enum):
            if actual.name == expected["name"] and (
                default_problem(actual.value, expected["value"]) is None
            ):
                return None
            return f"{actual!r} != {expected['repr']}"
        # A plain value equal to the member's value (``"=="`` for ``Operator.EQUAL``).
        return default_problem(actual, expected["value"])
    if "timedelta_seconds" in expected:
        if isinstance(actual, timedelta) and actual == timedelta(
            seconds=expected["timedelta_seconds"]
        ):
            return None
        return f"{actual!r} != {expected['repr']}"
    if "fixed_offset_seconds" in expected:
        if isinstance(actual, tzinfo) and _fixed_offset(actual) == timedelta(
            seconds=expected["fixed_offset_seconds"]
        ):
            return None
        return f"{actual!r} != {expected['repr']}"
    if "sequence" in expected:
        if type(actual).__name__ != expected["sequence"] or len(actual) != len(expected["items"]):
            return f"{actual!r} != {expected['repr']}"
        for item, wanted_item in zip(actual, expected["items"], strict=True):
            if default_problem(item, wanted_item) is not None:
                return f"{actual!r} != {expected['repr']}"
        return None
    raise ValueError(f"unknown default encoding {expected!r}")


def encode_signature(signature: inspect.Signature, *, drop_first: bool) -> list[JSONDict]:
    """The parameters of a signature as JSON (annotations left out on purpose)."""
    parameters = list(signature.parameters.values())
    if drop_first and parameters and parameters[0].kind.name in POSITIONAL_KINDS:
        parameters = parameters[1:]  # ``self`` / ``cls``
    encoded: list[JSONDict] = []
    for parameter in parameters:
        item: JSONDict = {
            "name": parameter.name,
            "kind": parameter.kind.name,
            "has_default": parameter.default is not inspect.Parameter.empty,
        }
        if parameter.default is not inspect.Parameter.empty:
            item["default"] = encode_default(parameter.default)
        encoded.append(item)
    return encoded


def callable_parameters(
    obj: Any, description: JSONDict, raw: Any = None, *, live: bool = False
) -> list[JSONDict]:
    """The caller-visible parameters of a class, function or class member.

    ``raw`` is the member as found by ``getattr_static`` (needed to see through
    classmethod/staticmethod); ``description`` is what ``describe_*`` made of it.
    With ``live``, each parameter also keeps its default object as
    ``actual_default`` (not JSON) so it can be compared by value.  Raises
    ``ValueError``/``TypeError`` when Python cannot tell the signature.
    """
    kind = description["kind"]
    if kind in {"class", "function"}:
        signature = inspect.signature(obj)
        drop_first = False
    elif kind == "method":
        function = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw
        signature = inspect.signature(function)
        drop_first = description["binding"] != "static"
    else:
        raise TypeError(f"a {kind} has no signature")
    encoded = encode_signature(signature, drop_first=drop_first)
    if live:
        for item in encoded:
            default = signature.parameters[item["name"]].default
            if default is not inspect.Parameter.empty:
                item["actual_default"] = default
    return encoded


def has_signature(description: JSONDict) -> bool:
    return description["kind"] in {"class", "function", "method"}


def signature_problems(
    expected: list[JSONDict], actual: list[JSONDict], *, names_matter: bool = True
) -> list[str]:
    """Every way ``actual`` differs from ``expected`` for a caller written against it.

    The rules, from a caller's point of view:

    * positional parameters match pydocket's one for one, in order: same name and
      same kind (the name is not compared for positional-only parameters, nor when
      ``names_matter`` is false, as for ``__aexit__``, which only Python calls);
    * keyword-only parameters exist with the same name and kind; their order is
      invisible to callers, so it is not compared;
    * ``*args`` / ``**kwargs`` exist where pydocket has them;
    * a default pydocket has is there with the same value (a parameter pydocket
      requires may have a default in ours: every pydocket caller passes it anyway);
    * anything we add comes after pydocket's parameters and is keyword-only with a
      default, or is a ``*args``/``**kwargs`` catch-all; a catch-all never stands in
      for one of pydocket's named parameters.
    """
    problems: list[str] = []
    actual_kinds = {p["kind"] for p in actual}
    actual_by_name = {p["name"]: p for p in actual}
    expected_positional = [p for p in expected if p["kind"] in POSITIONAL_KINDS]
    actual_positional = [p for p in actual if p["kind"] in POSITIONAL_KINDS]
    for index, wanted in enumerate(expected_positional):
        if index >= len(actual_positional):
            elsewhere = actual_by_name.get(wanted["name"])
            if elsewhere is not None:
                problems.append(
                    f"{wanted['name']!r} is {elsewhere['kind']}, pydocket's is {wanted['kind']}"
                )
                continue
            hidden = (
                " (a *args catch-all does not count)" if "VAR_POSITIONAL" in actual_kinds else ""
            )
            problems.append(
                f"missing positional parameter #{index + 1} {wanted['name']!r} "
                f"({wanted['kind']}){hidden}"
            )
            continue
        got = actual_positional[index]
        if wanted["kind"] == "POSITIONAL_OR_KEYWORD":
            if names_matter and got["name"] != wanted["name"]:
                problems.append(
                    f"positional parameter #{index + 1} is {got['name']!r}, "
                    f"pydocket's is {wanted['name']!r}"
                )
                continue
            if names_matter and got["kind"] != "POSITIONAL_OR_KEYWORD":
                problems.append(
                    f"{wanted['name']!r} is {got['kind']}, pydocket's is POSITIONAL_OR_KEYWORD"
                )
        problems.extend(_default_problems(wanted, got))

    expected_keyword = {p["name"]: p for p in expected if p["kind"] == "KEYWORD_ONLY"}
    for got in actual_positional[len(expected_positional) :]:
        if got["name"] in expected_keyword:
            continue  # one of pydocket's keyword-only parameters; reported below
        problems.append(
            f"added positional parameter {got['name']!r}: additions must be keyword-only "
            "with a default, after pydocket's parameters"
        )

    for name, wanted in expected_keyword.items():
        got = actual_by_name.get(name)
        if got is None:
            hidden = (
                " (a **kwargs catch-all does not count)" if "VAR_KEYWORD" in actual_kinds else ""
            )
            problems.append(f"missing keyword-only parameter {name!r}{hidden}")
            continue
        if got["kind"] != "KEYWORD_ONLY":
            problems.append(f"{name!r} is {got['kind']}, pydocket's is KEYWORD_ONLY")
        problems.extend(_default_problems(wanted, got))
    expected_names = {p["name"] for p in expected}
    for got in actual:
        if got["kind"] == "KEYWORD_ONLY" and got["name"] not in expected_names:
            if not got["has_default"]:
                problems.append(
                    f"added keyword-only parameter {got['name']!r} has no default, "
                    "so pydocket's callers would break"
                )

    for star, prefix in (("VAR_POSITIONAL", "*"), ("VAR_KEYWORD", "**")):
        wanted_star = [p for p in expected if p["kind"] == star]
        if wanted_star and star not in actual_kinds:
            problems.append(f"missing {prefix}{wanted_star[0]['name']} catch-all")
    return problems


def _default_problems(wanted: JSONDict, got: JSONDict) -> list[str]:
    if not wanted["has_default"]:
        return []
    if not got["has_default"]:
        return [f"{wanted['name']!r} has no default, pydocket's is {wanted['default']['repr']}"]
    problem = default_problem(got["actual_default"], wanted["default"])
    return [f"{wanted['name']!r} default {problem}"] if problem else []


# ---------------------------------------------------------------------------
# Instances: where the only way to see an attribute is to make one
# ---------------------------------------------------------------------------

_NAME = "pydocket-api-check"


def _docket() -> Any:
    from docket.docket import Docket

    return Docket(name=_NAME, url=f"memory://{_NAME}")


def _execution() -> Any:
    from docket.execution import Execution
    from docket.tasks import trace

    return Execution(
        docket=_docket(),
        function=trace,
        args=("hello",),
        kwargs={},
        key=_NAME,
        when=datetime.now(timezone.utc),
        attempt=1,
    )


def _worker() -> Any:
    from docket.worker import Worker

    return Worker(_docket())


def _execution_progress() -> Any:
    from docket.execution import ExecutionProgress

    return ExecutionProgress(_docket(), _NAME)


def _running_execution() -> Any:
    from docket.docket import RunningExecution

    return RunningExecution(_execution(), "worker-1", datetime.now(timezone.utc))


def _strike_list() -> Any:
    from docket.strikelist import StrikeList

    return StrikeList()


def _strike(kind: str) -> Callable[[], Any]:
    def make() -> Any:
        import docket.strikelist as strikelist

        return getattr(strikelist, kind)("trace", "message", strikelist.Operator.EQUAL, "x")

    return make


def _dependency(name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        import docket.dependencies as dependencies

        return getattr(dependencies, name)(*args, **kwargs)

    return make


def _admission_blocked() -> Any:
    from docket.dependencies import AdmissionBlocked

    return AdmissionBlocked(_execution())


def _agenda() -> Any:
    from docket.agenda import Agenda

    return Agenda()


def _logged() -> Any:
    from docket.annotations import Logged

    return Logged()


def _second() -> timedelta:
    return timedelta(seconds=1)


# Canonical class id -> a constructor call through pydocket's public API.  Public
# instance attributes (``execution.state``, ``docket.tasks``, ``retry.attempt``) are
# set in ``__init__`` and visible nowhere else, so the dump lists ``vars()`` of one of
# these, and the test looks for the same names on an instance made the same way.
INSTANCE_FACTORIES: dict[str, Callable[[], Any]] = {
    "docket.docket.Docket": _docket,
    "docket.docket.RunningExecution": _running_execution,
    "docket.worker.Worker": _worker,
    "docket.execution.Execution": _execution,
    "docket.execution.ExecutionProgress": _execution_progress,
    "docket.strikelist.StrikeList": _strike_list,
    "docket.strikelist.Strike": _strike("Strike"),
    "docket.strikelist.Restore": _strike("Restore"),
    "docket.agenda.Agenda": _agenda,
    "docket.annotations.Logged": _logged,
    "docket.dependencies.Retry": _dependency("Retry"),
    "docket.dependencies.ExponentialRetry": _dependency("ExponentialRetry"),
    "docket.dependencies.Perpetual": _dependency("Perpetual"),
    "docket.dependencies.Cron": _dependency("Cron", "* * * * *"),
    "docket.dependencies.Timeout": _dependency("Timeout", _second()),
    "docket.dependencies.Progress": _dependency("Progress"),
    "docket.dependencies.ConcurrencyLimit": _dependency("ConcurrencyLimit", "message"),
    "docket.dependencies.Cooldown": _dependency("Cooldown", _second()),
    "docket.dependencies.Debounce": _dependency("Debounce", _second()),
    "docket.dependencies.RateLimit": _dependency("RateLimit", 1, per=_second()),
    "docket.dependencies.TaskOutcome": _dependency("TaskOutcome", _second()),
    "docket.dependencies.AdmissionBlocked": _admission_blocked,
}


def make_instance(class_id: str) -> Any:
    """Build the sample instance for ``class_id``, inside an event loop.

    Some constructors want a running loop (to create locks or events); a fresh one
    is used and closed, and the instance is only ever inspected afterwards.
    """
    factory = INSTANCE_FACTORIES[class_id]

    async def build() -> Any:
        return factory()

    return asyncio.run(build())


def instance_attributes(instance: Any) -> set[str]:
    try:
        namespace = vars(instance)
    except TypeError:  # __slots__ only
        return set()
    return {name for name in namespace if is_public(name)}


def enum_members(value: type[enum.Enum]) -> dict[str, JSONDict]:
    return {member.name: encode_default(member.value) for member in value}


def typeddict_keys(value: Any) -> JSONDict:
    return {
        "keys": sorted(value.__annotations__),
        "required": sorted(getattr(value, "__required_keys__", ())),
    }


def public_names(module: types.ModuleType, names: tuple[str, ...] | None) -> list[str]:
    if names is not None:
        return list(names)
    return list(module.__all__)


def object_members(value: Any) -> Mapping[str, Any]:
    """Public members of an object's type that its own library defines."""
    members: dict[str, Any] = {}
    for name in dir(type(value)):
        if not is_public(name):
            continue
        owner = defining_class(type(value), name)
        if owner is None or is_stdlib_class(owner):
            continue
        members[name] = inspect.getattr_static(type(value), name)
    return members
