"""Reading the project's small JSON files (configs, plans, label descriptions, presets) with one kind of error."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import FashionSegError


def read_json(path: str | os.PathLike, what: str, error: type[FashionSegError]) -> Any:
    """The parsed content of the JSON file ``path``; a missing file or one that is not UTF-8 JSON raises ``error``
    naming it as ``what`` (e.g. ``"config file"``) and, for bad JSON, the line and column."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as reason:
        raise error(f"{what} {path} is not valid JSON: {reason}") from None
