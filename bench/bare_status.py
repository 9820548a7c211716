"""The reference for `resolutions status ID`: a bare script that connects with the same client
(the same codec and settings) and runs the same query, printing the state as JSON.

    python -m bench.bare_status york-2026-0001
"""

from __future__ import annotations

import asyncio
import os
import sys

from temporalio.client import Client

from infra.connection import build_converter, connect_options
from infra.settings import load_settings
from protocols.messages import CaseState


async def main(workflow_id: str) -> None:
    settings = load_settings()
    client = await Client.connect(**connect_options(settings),
                                  data_converter=build_converter(settings))
    state = await client.get_workflow_handle(workflow_id).query("state", result_type=CaseState)
    print(state.model_dump_json(indent=2))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    sys.stdout.flush()
    os._exit(0)
