"""omlsvc: a self-hosted ONNX model repository and scoring service with the OML Services REST API."""

__version__ = "0.1.0"
