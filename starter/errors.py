"""Turning errors from Temporal and the network into one line a manager understands."""

from __future__ import annotations

from temporalio.client import RPCError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCStatusCode


def explain(exc: BaseException) -> str:
    if isinstance(exc, WorkflowUpdateFailedError):
        cause = exc.cause
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = cause.__cause__
        if isinstance(cause, ApplicationError):
            return cause.message
        return str(exc.cause or exc)
    if isinstance(exc, RPCError):
        if "already completed" in exc.message:
            return "this case is closed; nothing more can be recorded on it"
        if exc.status == RPCStatusCode.NOT_FOUND:
            return "no such case (check the case reference)"
        if exc.status == RPCStatusCode.ALREADY_EXISTS:
            return "a case with that reference already exists"
        if exc.status == RPCStatusCode.UNAVAILABLE:
            return "cannot reach the Temporal server; is the worker running (./dev start)?"
        return f"Temporal said: {exc.message}"
    if isinstance(exc, OSError) and exc.filename and not isinstance(exc, ConnectionError):
        return f"cannot use the file {exc.filename}: {exc.strerror or exc}"  # not the network
    if isinstance(exc, ConnectionError | OSError):
        return f"cannot connect: {exc}"
    return str(exc) or exc.__class__.__name__
