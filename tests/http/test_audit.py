"""The graphql-http server audit (the GraphQL-over-HTTP spec, npm `graphql-http`) against the
running service: no MUST failure and no SHOULD warning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from graphql_api.app import create_app
from tests.helpers import serve_in_thread, settings

HERE = Path(__file__).parent


def test_graphql_over_http_audit() -> None:
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "graphql-http").is_dir():
        message = "Node and `npm ci --prefix tests/http` are needed for this test"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with serve_in_thread(create_app(settings(demo=True))) as url:
        run = subprocess.run(
            [node, "audit.mjs", f"{url}/graphql"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
    results = json.loads(run.stdout)
    assert len(results) > 30
    failures = [r for r in results if r["status"] == "error"]
    warnings = [r for r in results if r["status"] == "warn"]
    assert failures == []
    assert warnings == []
