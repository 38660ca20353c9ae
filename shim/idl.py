"""The one module that imports flyteidl messages.

Everything else in shimkit imports protobuf message classes from here, so the wire
schema has a single point of contact and the import cost is paid once.
"""

from flyteidl.core import (
    errors_pb2,
    execution_pb2,
    identifier_pb2,
    interface_pb2,
    literals_pb2,
    security_pb2,
    tasks_pb2,
    types_pb2,
)
from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2

# tasks
TaskTemplate = tasks_pb2.TaskTemplate
TaskMetadata = tasks_pb2.TaskMetadata
RuntimeMetadata = tasks_pb2.RuntimeMetadata
Container = tasks_pb2.Container
Resources = tasks_pb2.Resources
Identifier = identifier_pb2.Identifier
ResourceType = identifier_pb2.ResourceType
TaskExecutionIdentifier = identifier_pb2.TaskExecutionIdentifier
NodeExecutionIdentifier = identifier_pb2.NodeExecutionIdentifier
WorkflowExecutionIdentifier = identifier_pb2.WorkflowExecutionIdentifier
SecurityContext = security_pb2.SecurityContext
Secret = security_pb2.Secret

# interface and types
TypedInterface = interface_pb2.TypedInterface
VariableMap = interface_pb2.VariableMap
Variable = interface_pb2.Variable
LiteralType = types_pb2.LiteralType
SimpleType = types_pb2.SimpleType
BlobType = types_pb2.BlobType
EnumType = types_pb2.EnumType
UnionType = types_pb2.UnionType
TypeStructure = types_pb2.TypeStructure
StructuredDatasetType = types_pb2.StructuredDatasetType
SchemaType = types_pb2.SchemaType

# literals
Literal = literals_pb2.Literal
LiteralMap = literals_pb2.LiteralMap
LiteralCollection = literals_pb2.LiteralCollection
Scalar = literals_pb2.Scalar
Primitive = literals_pb2.Primitive
Binary = literals_pb2.Binary
Blob = literals_pb2.Blob
BlobMetadata = literals_pb2.BlobMetadata
Union = literals_pb2.Union
Void = literals_pb2.Void
StructuredDataset = literals_pb2.StructuredDataset
StructuredDatasetMetadata = literals_pb2.StructuredDatasetMetadata
RetryStrategy = literals_pb2.RetryStrategy
KeyValuePair = literals_pb2.KeyValuePair

# executions (connector phases and log links)
TaskExecution = execution_pb2.TaskExecution
TaskLog = execution_pb2.TaskLog

# errors
ErrorDocument = errors_pb2.ErrorDocument
ContainerError = errors_pb2.ContainerError
#: values of ``ContainerError.origin``: UNKNOWN, USER, SYSTEM
ErrorOrigin = execution_pb2.ExecutionError.ErrorKind

# well-known types
Struct = struct_pb2.Struct
Value = struct_pb2.Value
Timestamp = timestamp_pb2.Timestamp
Duration = duration_pb2.Duration

__all__ = [name for name in dir() if name[0].isupper()]


def enum_name(enum, value: int) -> str:
    """The name of ``value`` in a protobuf ``enum`` (``SimpleType``, ``ContainerError.Kind``,
    ...), or ``UNKNOWN(<value>)`` for a value this flyteidl does not define (a newer writer, a
    corrupt document): reading a document never fails on it."""
    try:
        return enum.Name(value)
    except ValueError:
        return f"UNKNOWN({value})"


def serialize(message) -> bytes:
    """Deterministic bytes for a message: map entries sorted, so equal messages give equal bytes."""
    return message.SerializeToString(deterministic=True)


# admin messages (registration packages, ``shim package``): loaded on first use, so the
# container entrypoint never pays for them
_ADMIN = {
    "TaskSpec": ("flyteidl.admin.task_pb2", "TaskSpec"),
    "DescriptionEntity": ("flyteidl.admin.description_entity_pb2", "DescriptionEntity"),
    "Description": ("flyteidl.admin.description_entity_pb2", "Description"),
    # other members of a ``pyflyte package`` archive (``shim inspect`` reads them)
    "WorkflowSpec": ("flyteidl.admin.workflow_pb2", "WorkflowSpec"),
    "LaunchPlan": ("flyteidl.admin.launch_plan_pb2", "LaunchPlan"),
}
# Flyte 1's agent service (connectors): messages, and the grpc stubs module (imports grpc)
_AGENT = "flyteidl.admin.agent_pb2"
for _name in (
    "TaskExecutionMetadata",
    "CreateTaskRequest",
    "CreateTaskResponse",
    "GetTaskRequest",
    "GetTaskResponse",
    "DeleteTaskRequest",
    "DeleteTaskResponse",
    "GetTaskMetricsRequest",
    "GetTaskMetricsResponse",
    "GetTaskLogsRequest",
    "GetTaskLogsResponse",
    "GetTaskLogsResponseHeader",
    "GetTaskLogsResponseBody",
    "AgentError",
    "Agent",
    "TaskCategory",
    "ListAgentsRequest",
    "ListAgentsResponse",
    "GetAgentRequest",
    "GetAgentResponse",
):
    _ADMIN[_name] = (_AGENT, _name)
_ADMIN["AgentResource"] = (_AGENT, "Resource")  # not to be confused with ``Resources``
_ADMIN["AgentState"] = (_AGENT, "State")
#: the generated grpc module (``AsyncAgentServiceStub``, ``add_..._to_server``): needs grpcio
_ADMIN["agent_grpc"] = ("flyteidl.service.agent_pb2_grpc", None)


def __getattr__(name: str):
    if name in _ADMIN:
        import importlib

        module, attr = _ADMIN[name]
        loaded = importlib.import_module(module)
        value = loaded if attr is None else getattr(loaded, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
