// Package deploy holds the files that run dynkv in production: a container
// image (Dockerfile), a three-node docker compose cluster, a systemd unit
// with its environment file, and a Kubernetes StatefulSet. README.md tells
// how to use each.
//
// The package has no code of its own. Its test keeps the files honest
// without Docker or a cluster: every `dynkv serve` flag and DYNKV_ variable
// they use must be a flag that cmd/dynkv really defines (read from its
// source), the ports, data dir, health checks, stop timeouts and node
// addresses must agree with each other and with what the binary does, and
// the YAML must have the structure the tools expect.
package deploy
