"""AWS under moto for tests: a mocked account, and AWS-shaped errors injected into a real
botocore client (parsed by botocore exactly as a real AWS answer would be)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.model import OperationModel
from botocore.parsers import create_parser
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from shared.delivery import aws as delivery_aws
from shared.settings import settings

REGION = "eu-west-1"
ACCOUNT = DEFAULT_ACCOUNT_ID


class Canned:
    """An AWS error answer: HTTP status, headers and body as the service would send them."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


def query_error(code: str, message: str, status: int = 400) -> Canned:
    """An error as the query protocol (SNS) answers it."""
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
    ).encode()
    return Canned(status, {"content-type": "text/xml"}, body)


def json_error(code: str, message: str, status: int) -> Canned:
    """An error as the rest-json protocol (SES v2) answers it."""
    body = json.dumps({"message": message}).encode()
    return Canned(
        status, {"content-type": "application/json", "x-amzn-errortype": f"{code}:"}, body
    )


class Injector:
    """Answers the next calls of one operation of the service's shared client with canned
    errors (parsed by botocore's own parser for the service's protocol) or raises canned
    exceptions, before anything is sent; later calls go to moto as usual."""

    def __init__(self, service: str, operation: str) -> None:
        self.client = delivery_aws.client(service)
        service_id = self.client.meta.service_model.service_id.hyphenize()
        self.event = f"before-call.{service_id}.{operation}"
        self.pending: list[Canned | Exception] = []
        self.calls = 0
        self.lock = threading.Lock()
        self.client.meta.events.register_first(self.event, self._answer)

    def _answer(self, model: OperationModel, **_: Any) -> tuple[AWSResponse, dict] | None:
        with self.lock:
            self.calls += 1
            if not self.pending:
                return None
            canned = self.pending.pop(0)
        if isinstance(canned, Exception):
            raise canned
        http = AWSResponse("https://aws.test/", canned.status, canned.headers, None)
        response = {"status_code": canned.status, "headers": canned.headers, "body": canned.body}
        parser = create_parser(model.service_model.protocol)
        return http, parser.parse(response, model.output_shape)

    def then(self, *answers: Canned | Exception) -> Injector:
        with self.lock:
            self.pending.extend(answers)
        return self

    def close(self) -> None:
        self.client.meta.events.unregister(self.event, self._answer)


class Recorder:
    """The API parameters of each call of one operation of the service's shared client."""

    def __init__(self, service: str, operation: str) -> None:
        self.client = delivery_aws.client(service)
        service_id = self.client.meta.service_model.service_id.hyphenize()
        self.event = f"provide-client-params.{service_id}.{operation}"
        self.params: list[dict[str, Any]] = []
        self.client.meta.events.register(self.event, self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.params.append(json.loads(json.dumps(params)))

    def close(self) -> None:
        self.client.meta.events.unregister(self.event, self._record)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's AWS in ``REGION``, fresh shared clients (made inside the mock)."""
    monkeypatch.setattr(settings, "aws_region", REGION)
    delivery_aws.reset_clients()
    with mock_aws():
        yield
    delivery_aws.reset_clients()
