"""Schemathesis hooks for the consentgate wire protocol (examples/collector/openapi.json).

The document describes what the SDK sends, and two of its rules are not expressible in
OpenAPI, so schemathesis is taught them here:

- bodies travel gzip-compressed (`Content-Encoding: gzip` is a required header): every JSON
  body is compressed before it is sent;
- `Idempotency-Key` equals the body's id (`batch_id`, `request_id`): when a generated case
  carries the header and its body has a string id, the header is set to that id. Cases
  without the header, or whose body has no usable id, are left as generated, so the
  collector's refusal of them is still checked;
- what the document states in words only (`Event.seq` unique within a batch, `Event.props` at
  most 16 KiB and 8 levels deep): a repeated integer `seq` is renumbered to the smallest
  unused one, and `props` over the limits is replaced by `{}`. Everything else a case breaks
  stays broken.

Schemathesis re-validates a case after these edits, so a case they make valid counts as
positive.

Loaded with SCHEMATHESIS_HOOKS=hooks (and this directory on PYTHONPATH).
"""

import gzip
import json

import schemathesis

ID_FIELD = {"/v1/batch": "batch_id", "/v1/deletion": "request_id"}


@schemathesis.serializer("application/json")
def gzip_json(ctx, value):
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        raw = json.dumps(value).encode("utf-8")
    return gzip.compress(raw)


def _header_safe(value):
    return isinstance(value, str) and value.isascii() and value.isprintable() and value.strip() == value


MAX_PROPS_BYTES = 16 * 1024
MAX_PROPS_DEPTH = 8


def _depth(value):
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _respect_worded_rules(events):
    if not isinstance(events, list):
        return
    used = {e["seq"] for e in events if isinstance(e, dict) and type(e.get("seq")) is int}
    seen = set()
    free = 0
    for event in events:
        if not isinstance(event, dict):
            continue
        seq = event.get("seq")
        if type(seq) is int:
            if seq in seen:
                while free in used:
                    free += 1
                event["seq"] = free
                used.add(free)
                seq = free
            seen.add(seq)
        props = event.get("props")
        if isinstance(props, dict) and (
            len(json.dumps(props).encode("utf-8")) > MAX_PROPS_BYTES or _depth(props) > MAX_PROPS_DEPTH
        ):
            event["props"] = {}


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path == "/v1/batch" and isinstance(case.body, dict):
        _respect_worded_rules(case.body.get("events"))
    field = ID_FIELD.get(case.operation.path)
    if field is None or not isinstance(case.body, dict) or case.headers is None:
        return
    if "Idempotency-Key" not in case.headers:
        return
    body_id = case.body.get(field)
    if _header_safe(body_id) and body_id:
        case.headers["Idempotency-Key"] = body_id
