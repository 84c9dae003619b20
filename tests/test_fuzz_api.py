"""Schema-driven fuzzing (schemathesis) of every operation in our OpenAPI document against a real server.

Every generated request, valid (positive) or deliberately invalid (negative), must end in a success or a 4xx in
the one error shape: never a 5xx. (Operations are iterated by hand: schemathesis' pytest fixture loader relies
on pytest internals that pytest 9 removed.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.helpers import LiveServer, live_server

ERROR_KEYS = {"status_code", "detail", "extra"}
EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("fuzz") / "home"
    with live_server(home) as server:
        with server.client() as api:  # something to find: a project with a task
            project = api.post("/api/v1/projects", json={"name": "fuzz", "working_dir": str(home.parent)}).json()
            api.post("/api/v1/tasks", json={"project_id": project["id"], "title": "seed"})
        yield server


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_input_produces_a_server_error(fuzz_server: LiveServer, mode: GenerationMode):
    auth = {"Authorization": f"Bearer {fuzz_server.token}"}
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}schema/openapi.json", headers=auth)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:
            case.headers = {**(case.headers or {}), **auth}
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code >= 400:
                assert set(response.json()) == ERROR_KEYS, response.text

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing invalid can be built for a parameterless operation
        except Exception as exc:  # collect every failing operation, report all at once
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
