"""The Open Inference Protocol (KServe v2) over omlsvc's deployments: the wire codec (``codec``), a
model's protocol view from its stored signature (``models``) and the use cases (``service``). No
HTTP here: the transport is ``omlsvc.rest.oip``."""
