"""docs/production.md's example compiles and imports what it names (it needs a Redis host, so it is not run)."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "production.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def test_each_example_compiles_and_its_imports_resolve() -> None:
    blocks = PYTHON_BLOCK.findall(GUIDE.read_text(encoding="utf-8"))
    assert blocks, "docs/production.md has no python example"
    for code in blocks:
        compile(code, str(GUIDE), "exec")
        imports = "\n".join(
            line for line in code.splitlines() if line.startswith(("import ", "from "))
        )
        exec(compile(imports, str(GUIDE), "exec"), {})
