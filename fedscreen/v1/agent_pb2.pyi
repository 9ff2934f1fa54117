from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Column(_message.Message):
    __slots__ = ("name", "type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("name", "columns", "approx_rows")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    APPROX_ROWS_FIELD_NUMBER: _ClassVar[int]
    name: str
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    approx_rows: int
    def __init__(self, name: _Optional[str] = ..., columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ..., approx_rows: _Optional[int] = ...) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("agency", "role", "datasets", "trusted_key_ids", "approved_digests", "agent_version", "protocol_version")
    AGENCY_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    TRUSTED_KEY_IDS_FIELD_NUMBER: _ClassVar[int]
    APPROVED_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    agency: str
    role: str
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    trusted_key_ids: _containers.RepeatedScalarFieldContainer[str]
    approved_digests: _containers.RepeatedScalarFieldContainer[str]
    agent_version: str
    protocol_version: str
    def __init__(self, agency: _Optional[str] = ..., role: _Optional[str] = ..., datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., trusted_key_ids: _Optional[_Iterable[str]] = ..., approved_digests: _Optional[_Iterable[str]] = ..., agent_version: _Optional[str] = ..., protocol_version: _Optional[str] = ...) -> None: ...

class JobEnvelope(_message.Message):
    __slots__ = ("job_id", "campaign", "params", "requested_by", "sent_at_unix_ms")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    campaign: str
    params: _containers.ScalarMap[str, str]
    requested_by: str
    sent_at_unix_ms: int
    def __init__(self, job_id: _Optional[str] = ..., campaign: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., requested_by: _Optional[str] = ..., sent_at_unix_ms: _Optional[int] = ...) -> None: ...

class CandidateSet(_message.Message):
    __slots__ = ("column", "tokens")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    column: str
    tokens: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, column: _Optional[str] = ..., tokens: _Optional[_Iterable[str]] = ...) -> None: ...

class ScreenRequest(_message.Message):
    __slots__ = ("bundle", "job", "candidates")
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    bundle: bytes
    job: JobEnvelope
    candidates: _containers.RepeatedCompositeFieldContainer[CandidateSet]
    def __init__(self, bundle: _Optional[bytes] = ..., job: _Optional[_Union[JobEnvelope, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[CandidateSet, _Mapping]]] = ...) -> None: ...

class FlagBatch(_message.Message):
    __slots__ = ("arrow_ipc", "rows")
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    arrow_ipc: bytes
    rows: int
    def __init__(self, arrow_ipc: _Optional[bytes] = ..., rows: _Optional[int] = ...) -> None: ...

class IdCount(_message.Message):
    __slots__ = ("kind", "invalid")
    KIND_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    kind: str
    invalid: int
    def __init__(self, kind: _Optional[str] = ..., invalid: _Optional[int] = ...) -> None: ...

class ScreenSummary(_message.Message):
    __slots__ = ("job_id", "bundle_digest", "role", "rows_in", "rows_out", "batches", "invalid_ids", "seconds")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ROWS_IN_FIELD_NUMBER: _ClassVar[int]
    ROWS_OUT_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    INVALID_IDS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    bundle_digest: str
    role: str
    rows_in: int
    rows_out: int
    batches: int
    invalid_ids: _containers.RepeatedCompositeFieldContainer[IdCount]
    seconds: float
    def __init__(self, job_id: _Optional[str] = ..., bundle_digest: _Optional[str] = ..., role: _Optional[str] = ..., rows_in: _Optional[int] = ..., rows_out: _Optional[int] = ..., batches: _Optional[int] = ..., invalid_ids: _Optional[_Iterable[_Union[IdCount, _Mapping]]] = ..., seconds: _Optional[float] = ...) -> None: ...

class ScreenReply(_message.Message):
    __slots__ = ("batch", "summary")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    batch: FlagBatch
    summary: ScreenSummary
    def __init__(self, batch: _Optional[_Union[FlagBatch, _Mapping]] = ..., summary: _Optional[_Union[ScreenSummary, _Mapping]] = ...) -> None: ...

class ResolveRequest(_message.Message):
    __slots__ = ("request", "signature")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    request: bytes
    signature: bytes
    def __init__(self, request: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ResolvedField(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class ResolveResponse(_message.Message):
    __slots__ = ("request_id", "status", "fields", "message")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    status: str
    fields: _containers.RepeatedCompositeFieldContainer[ResolvedField]
    message: str
    def __init__(self, request_id: _Optional[str] = ..., status: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[ResolvedField, _Mapping]]] = ..., message: _Optional[str] = ...) -> None: ...

class AuditRequest(_message.Message):
    __slots__ = ("from_seq",)
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    from_seq: int
    def __init__(self, from_seq: _Optional[int] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("seq", "line")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    line: bytes
    def __init__(self, seq: _Optional[int] = ..., line: _Optional[bytes] = ...) -> None: ...
