"""The embedded dev server (persistence, search attributes) and the SMTP sink."""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType, WorkflowExecutionStatus
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import aiosmtplib

    from infra.devserver import DevServer, EmbeddedServiceError, temporal_cli_path
    from infra.mailsink import SmtpSink, list_mail, read_mail
    from protocols.search_attributes import SEARCH_ATTRIBUTES
    from tests.conftest import free_port

NAMESPACE = "resolutions-test"


@workflow.defn
class HelloWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"hello {name}"



def dev_server(data_dir: Path, **kwargs: object) -> DevServer:
    return DevServer(data_dir, port=free_port(), ui_port=free_port(), namespace=NAMESPACE, **kwargs)


def test_temporal_cli_found() -> None:
    assert Path(temporal_cli_path()).is_file()


async def test_dev_server_persists_workflows_and_registers_search_attributes(
    tmp_path: Path,
) -> None:
    workflow_id = f"hello-{uuid.uuid4()}"
    task_queue = "embedded-test"

    # First run with only some attributes: the rest must be added on the next start, since
    # start-dev ignores --search-attribute for a database that already exists.
    first = {"CaseStage": SEARCH_ATTRIBUTES["CaseStage"]}
    async with dev_server(tmp_path, search_attributes=first) as server:
        assert server.process is not None
        client = await Client.connect(server.address, namespace=NAMESPACE)
        async with Worker(client, task_queue=task_queue, workflows=[HelloWorkflow]):
            result = await client.execute_workflow(
                HelloWorkflow.run,
                "world",
                id=workflow_id,
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=30),
            )
        assert result == "hello world"
    assert server.process is None
    assert (tmp_path / "temporal.db").is_file()
    assert (tmp_path / "temporal-server.log").is_file()

    async with dev_server(tmp_path) as server:
        client = await Client.connect(server.address, namespace=NAMESPACE)
        description = await client.get_workflow_handle(workflow_id).describe()
        assert description.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED

        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=NAMESPACE)
        )
        registered = dict(response.custom_attributes)
        for name, type_name in SEARCH_ATTRIBUTES.items():
            expected = IndexedValueType.Value("INDEXED_VALUE_TYPE_" + type_name.upper())
            assert registered.get(name) == expected, name


async def test_dev_server_reports_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = DevServer(
            tmp_path, port=taken.getsockname()[1], ui_port=free_port(), startup_timeout=30
        )
        with pytest.raises(EmbeddedServiceError, match="temporal-server.log"):
            await server.start()
    assert server.process is None


async def test_smtp_sink_files_messages(tmp_path: Path) -> None:
    port = free_port()
    message = EmailMessage()
    message["From"] = "resolutions@localhost.localdomain"
    message["To"] = "alice@example.org, bob@example.org"
    message["Subject"] = "Professional disagreement: stage 2 – response due"
    message["Message-ID"] = "<case-123/stage-2@localhost>"
    message.set_content("Please respond by Friday.")

    async with SmtpSink(tmp_path, port=port) as sink:
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port)
        # A second message with the same Message-ID must get its own file.
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port)
    assert not sink.running

    records = list_mail(tmp_path)
    assert len(records) == 2
    record = records[0]
    assert record.subject == "Professional disagreement: stage 2 – response due"
    assert record.to == ["alice@example.org", "bob@example.org"]
    assert record.mail_from == "resolutions@localhost.localdomain"
    assert record.message_id == "<case-123/stage-2@localhost>"
    assert records[0].file_name != records[1].file_name
    assert (tmp_path / "mail" / record.file_name).is_file()
    assert (tmp_path / "mail" / "index.jsonl").read_text().count("\n") == 2

    filed = read_mail(tmp_path, record.file_name)
    assert filed["Subject"] == record.subject
    assert filed.get_content().strip() == "Please respond by Friday."

    with pytest.raises(ValueError):
        read_mail(tmp_path, "../index.jsonl")


def test_list_mail_without_mail(tmp_path: Path) -> None:
    assert list_mail(tmp_path) == []


def test_smtp_sink_sync_context_manager(tmp_path: Path) -> None:
    with SmtpSink(tmp_path, port=free_port()) as sink:
        assert sink.running
    assert not sink.running
