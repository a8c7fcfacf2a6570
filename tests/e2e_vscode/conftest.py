from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Any, None]:
    """Mark a failed test so its run dir (code-server logs, settings) is kept for a look."""
    outcome = yield
    if outcome.get_result().failed:
        item._failed = True  # type: ignore[attr-defined]
