"""Generated gRPC contract of Preflight (package preflight.v1); see proto/preflight/v1."""
