"""A real Kubernetes cluster on this machine, for the real-node test tier (see e2e/README.md)."""
