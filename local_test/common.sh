# Sourced by the local_test scripts: picks the container CLI.
# CONTAINER_ENGINE=docker|podman overrides; else docker when it reaches an engine, else podman.
pick_engine() {
  if [ -n "${CONTAINER_ENGINE:-}" ]; then echo "$CONTAINER_ENGINE"
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then echo docker
  elif command -v podman >/dev/null 2>&1; then echo podman
  else echo "local_test: neither docker nor podman found" >&2; return 1; fi
}
