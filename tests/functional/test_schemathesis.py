"""Generated requests against every operation of the API's OpenAPI description, through
the WSGI app (no network): whatever comes in, no route answers 500, and every error is
JSON with a message. Kept small (a few dozen cases per operation) to stay quick."""

from __future__ import annotations

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings

from tests.api_factories import make_staff, make_token
from tests.factories import make_action

EXAMPLES_PER_OPERATION = 20


def test_no_generated_request_makes_the_api_fail(app: Flask) -> None:
    make_action(slug="open-appeal")
    headers = {"Authorization": f"Bearer {make_token(make_staff('admin'))}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                  database=None, suppress_health_check=list(HealthCheck))
        def no_failure(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=headers)
            assert response.status_code < 500, (
                case.method, case.formatted_path, response.text[:300])
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["status"] == response.status_code
                assert error["message"]

        no_failure()
