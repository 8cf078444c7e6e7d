"""The OIP V2 protocol file and the code `make grpc` generates from it (do not edit the generated files)."""
