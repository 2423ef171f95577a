"""docket.engines.redis.script_text: each script carries the common helpers it uses, and only those.

Redis builds every ``local function`` of a script on every call, so a helper a
script never names is left out; one it names (directly or through another
helper) must be there, or the script would fail when it reached the call.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest

from docket.engines.redis.script_text import SCRIPT_NAMES, common_helpers, script_source


def named(text: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", text) is not None


def test_common_lua_splits_into_its_helpers() -> None:
    header, helpers = common_helpers()
    names = [name for name, _ in helpers]
    assert {"member", "publish", "place", "store", "finish", "drop_all"} <= set(names)
    assert len(names) == len(set(names))
    # Nothing is lost or reordered in the split.
    lua = resources.files("docket.engines.redis").joinpath("lua").joinpath("common.lua")
    assert header + "".join(text for _, text in helpers) == lua.read_text("utf-8")
    for name, text in helpers:
        assert re.search(rf"^local (function )?{name}\b", text, re.MULTILINE)


@pytest.mark.parametrize("script", SCRIPT_NAMES)
def test_every_helper_a_script_names_is_defined_in_it(script: str) -> None:
    header, helpers = common_helpers()
    # The header is comments every script carries; a name it mentions is no call.
    source = script_source(script).replace(header, "", 1)
    for name, text in helpers:
        included = text in source
        # Named anywhere outside its own definition: it must be there.
        if named(source.replace(text, "") if included else source, name):
            assert included, f"{script} names {name} but does not define it"


def test_a_short_script_leaves_out_the_helpers_it_never_names() -> None:
    source = script_source("schedule")
    _, helpers = common_helpers()
    left_out = {name for name, text in helpers if text not in source}
    assert {"drop_all", "stream_entries", "last_id", "call_chunked"} <= left_out
    assert "local function place(" in source and "local function store(" in source


@pytest.mark.parametrize("name", ["nope", "common", "claiming", "", "../schedule"])
def test_a_name_that_is_not_a_script_is_refused_naming_it(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(name))):
        script_source(name)
