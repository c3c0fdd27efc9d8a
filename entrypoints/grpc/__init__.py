"""The gRPC entrypoint: IntegrationService on a grpc.aio server, with health and reflection."""
