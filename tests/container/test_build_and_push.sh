#!/usr/bin/env bash
# Tests build_and_push.sh without AWS: moto's server answers STS and ECR (through --endpoint-url), Debian's
# docker-registry on 127.0.0.1 receives the push (ECR_REGISTRY_OVERRIDE, test-only, maps moto's fake registry
# host to it). Builds a tiny FROM-scratch image, not the real one. Needs podman (scripts/container-test.sh
# installs it); installs docker-registry and, if `aws` is missing, awscli into a /tmp venv.
# Run: tests/container/test_build_and_push.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
moto=${MOTO_SERVER:-$repo/.venv/bin/moto_server}
work=$(mktemp -d /tmp/bap-test.XXXXXX)
pids=()
cleanup() {
  for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
  podman rmi -f "localhost/bap-test:t1" >/dev/null 2>&1 || true
  podman images --format '{{.Repository}}:{{.Tag}}' | grep '^127.0.0.1:.*/bap-test' | xargs -r podman rmi -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fails=0
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

command -v podman >/dev/null || { echo "podman missing: run scripts/container-test.sh (it installs it)" >&2; exit 1; }
if ! command -v docker-registry >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
fi
if ! aws --version >/dev/null 2>&1; then
  if [ ! -x /tmp/albert-ner-awscli/bin/aws ]; then
    python3 -m venv /tmp/albert-ner-awscli && /tmp/albert-ner-awscli/bin/pip install -q awscli
  fi
  export PATH=/tmp/albert-ner-awscli/bin:$PATH
fi
[ -x "$moto" ] || { echo "no moto_server at $moto (make venv)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
moto_port=$(free_port)
reg_port=$(free_port)

"$moto" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
cat >"$work/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$reg_port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$moto_port/moto-api/" >/dev/null 2>&1 \
    && curl -sf "http://127.0.0.1:$reg_port/v2/" >/dev/null 2>&1 && break
  sleep 0.2
done

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN= AWS_REGION=us-east-1
unset AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$work/aws-credentials
# Podman settings local to this test: plain http for the local registry, credentials in a scratch file.
cat >"$work/registries.conf" <<CONF
[[registry]]
location = "127.0.0.1:$reg_port"
insecure = true
CONF
export CONTAINERS_REGISTRIES_CONF=$work/registries.conf REGISTRY_AUTH_FILE=$work/auth.json
export CONTAINERS_CONF=${CONTAINERS_CONF:-$repo/target/container-test/containers.conf}
[ -f "$CONTAINERS_CONF" ] || unset CONTAINERS_CONF
endpoint=http://127.0.0.1:$moto_port
awsm() { aws --endpoint-url "$endpoint" --region us-east-1 "$@"; }

mkdir "$work/ctx"
echo hello >"$work/ctx/hello.txt"
printf 'FROM scratch\nCOPY hello.txt /hello.txt\n' >"$work/ctx/Dockerfile"
bap=("$repo/build_and_push.sh" --file "$work/ctx/Dockerfile" --context "$work/ctx")

# 1. --dry-run, docker engine, a China region: commands printed, nothing created.
out=$("${bap[@]}" --engine docker --dry-run --endpoint-url "$endpoint" --region cn-north-1 bap-test t1 2>&1) \
  || { echo "$out"; fail "dry-run exits 0"; }
check "dry-run: China registry domain" grep -q 'dkr\.ecr\.cn-north-1\.amazonaws\.com\.cn/bap-test:t1' <<<"$out"
check "dry-run: create-repository printed" grep -q 'ecr create-repository --repository-name bap-test' <<<"$out"
check "dry-run: login through a pipe" grep -q 'ecr get-login-password | docker login --username AWS --password-stdin' <<<"$out"
check "dry-run: linux/amd64 build" grep -q 'docker build.*--platform linux/amd64' <<<"$out"
check "dry-run: push printed" grep -q 'docker push .*/bap-test:t1' <<<"$out"
check "dry-run: endpoint passed to aws" grep -q -- "--endpoint-url $endpoint" <<<"$out"
check "dry-run: no repository created" bash -c "! aws --endpoint-url $endpoint --region cn-north-1 ecr describe-repositories --repository-names bap-test >/dev/null 2>&1"
out=$("${bap[@]}" --engine podman --dry-run --endpoint-url "$endpoint" bap-test 2>&1) || true
check "dry-run: podman builds Docker-format manifests" grep -q 'podman build --format docker --platform linux/amd64' <<<"$out"
check "dry-run: commercial domain, TAG defaults to latest" grep -q 'dkr\.ecr\.us-east-1\.amazonaws\.com/bap-test:latest' <<<"$out"

# 2. A real run with podman, AWS_ENDPOINT_URL instead of the option, registry mapped to the local one.
if AWS_ENDPOINT_URL=$endpoint ECR_REGISTRY_OVERRIDE=127.0.0.1:$reg_port \
     "${bap[@]}" --engine podman bap-test t1 >"$work/run1.log" 2>&1; then
  pass "push run exits 0"
else
  cat "$work/run1.log"; fail "push run exits 0"
fi
check "ECR repository created (moto)" bash -c "aws --endpoint-url $endpoint --region us-east-1 ecr describe-repositories --repository-names bap-test >/dev/null"
check "image URI printed last" bash -c "tail -1 $work/run1.log | grep -qx '127.0.0.1:$reg_port/bap-test:t1'"
check "tag in the registry" bash -c "curl -sf http://127.0.0.1:$reg_port/v2/bap-test/tags/list | grep -q '\"t1\"'"
mt=$(curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  -H 'Accept: application/vnd.oci.image.index.v1+json' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
  "http://127.0.0.1:$reg_port/v2/bap-test/manifests/t1" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("mediaType"))')
check "manifest is Docker v2 schema 2, single platform (got $mt)" test "$mt" = application/vnd.docker.distribution.manifest.v2+json
cfg=$(podman image inspect "127.0.0.1:$reg_port/bap-test:t1" --format '{{.Os}}/{{.Architecture}}')
check "image platform linux/amd64 (got $cfg)" test "$cfg" = linux/amd64

# 3. Again: the repository exists, nothing fails.
if ECR_REGISTRY_OVERRIDE=127.0.0.1:$reg_port "${bap[@]}" --engine podman --endpoint-url "$endpoint" bap-test t1 \
     >"$work/run2.log" 2>&1 && grep -q 'repository bap-test exists' "$work/run2.log"; then
  pass "second run reuses the repository"
else
  cat "$work/run2.log"; fail "second run reuses the repository"
fi

# 4. Bad input is refused before anything runs.
check "invalid repository name refused" bash -c "! '$repo/build_and_push.sh' --dry-run --endpoint-url $endpoint Bad_Name >/dev/null 2>&1"
check "no region refused" bash -c "! env -u AWS_REGION -u AWS_DEFAULT_REGION '$repo/build_and_push.sh' --engine podman --dry-run --endpoint-url $endpoint x >/dev/null 2>&1"

echo "test_build_and_push: $fails failure(s)"
[ "$fails" = 0 ]
