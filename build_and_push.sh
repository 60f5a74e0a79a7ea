#!/usr/bin/env bash
# Builds the training image (docker/Dockerfile) and pushes it to Amazon ECR as
#   ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/IMAGE:TAG
# creating the ECR repository if it is missing. Prints the image URI last (for --image-uri in sagemaker/).
#
# Usage: ./build_and_push.sh [options] IMAGE [TAG] [-- EXTRA BUILD ARGS...]
#   --engine docker|podman   container CLI (default: $CONTAINER_ENGINE, else docker if it reaches an engine,
#                            else podman)
#   --region REGION          default: $AWS_REGION, else $AWS_DEFAULT_REGION, else `aws configure get region`
#   --endpoint-url URL       passed to every aws call (default: $AWS_ENDPOINT_URL); for tests against a fake AWS
#   --file DOCKERFILE        default: docker/Dockerfile
#   --context DIR            default: the repository root
#   --dry-run                print the commands that change something (create repository, login, build, push)
#                            instead of running them; the read-only AWS look-ups still run
#   EXTRA BUILD ARGS         e.g. -- --build-arg BINARIES=prebuilt
#                                 -- --secret id=extra_ca,src=/etc/ssl/certs/ca-certificates.crt
# TAG defaults to latest.
#
# The image is built for linux/amd64 with a Docker v2 single-platform manifest: SageMaker rejects OCI image
# indexes, which buildx produces when it attaches provenance attestations (hence --provenance=false), and
# podman writes OCI unless told --format docker.
#
# Test-only: ECR_REGISTRY_OVERRIDE=HOST:PORT replaces the registry host computed from account and region (a fake
# AWS such as moto answers with a registry that does not exist; tests/container/test_build_and_push.sh maps it
# to a local registry). Never set it for real AWS.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
engine=${CONTAINER_ENGINE:-}
region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
endpoint_url=${AWS_ENDPOINT_URL:-}
dockerfile=$here/docker/Dockerfile
context=$here
dry_run=0
positional=()
extra_build_args=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "build_and_push: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --engine) engine=${2:?}; shift 2 ;;
    --engine=*) engine=${1#*=}; shift ;;
    --region) region=${2:?}; shift 2 ;;
    --region=*) region=${1#*=}; shift ;;
    --endpoint-url) endpoint_url=${2:?}; shift 2 ;;
    --endpoint-url=*) endpoint_url=${1#*=}; shift ;;
    -f|--file) dockerfile=${2:?}; shift 2 ;;
    --file=*) dockerfile=${1#*=}; shift ;;
    --context) context=${2:?}; shift 2 ;;
    --context=*) context=${1#*=}; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; extra_build_args=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) positional+=("$1"); shift ;;
  esac
done
[ ${#positional[@]} -ge 1 ] && [ ${#positional[@]} -le 2 ] || { usage >&2; exit 2; }
image=${positional[0]}
tag=${positional[1]:-latest}
[[ $image =~ ^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$ ]] \
  || die "'$image' is not a valid ECR repository name (lowercase letters, digits, . _ - /)"

command -v aws >/dev/null || die "the aws CLI is not installed (pip install awscli, or AWS CLI v2)"
aws_args=()
[ -n "$endpoint_url" ] && aws_args+=(--endpoint-url "$endpoint_url")

if [ -z "$engine" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker
  elif command -v podman >/dev/null; then engine=podman
  else die "neither a working docker nor podman found (or pass --engine)"; fi
fi
case "$engine" in docker|podman) ;; *) die "--engine must be docker or podman, not '$engine'" ;; esac

# Prints a command, shell-quoted; runs it unless --dry-run.
run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  [ "$dry_run" = 1 ] || "$@"
}

[ -n "$region" ] || region=$(aws configure get region 2>/dev/null || true)
[ -n "$region" ] || die "no region: set AWS_REGION, pass --region, or run aws configure"
aws_args+=(--region "$region")
account=$(aws "${aws_args[@]}" sts get-caller-identity --query Account --output text) \
  || die "aws sts get-caller-identity failed: no AWS credentials?"
case "$region" in
  cn-*) domain=amazonaws.com.cn ;;
  *) domain=amazonaws.com ;;
esac
registry=$account.dkr.ecr.$region.$domain
if [ -n "${ECR_REGISTRY_OVERRIDE:-}" ]; then
  echo "build_and_push: TEST ONLY: pushing to $ECR_REGISTRY_OVERRIDE instead of $registry" >&2
  registry=$ECR_REGISTRY_OVERRIDE
fi
fullname=$registry/$image:$tag
echo "build_and_push: account $account, region $region, engine $engine -> $fullname"

# The repository.
if aws "${aws_args[@]}" ecr describe-repositories --repository-names "$image" >/dev/null 2>&1; then
  echo "build_and_push: ECR repository $image exists"
else
  run aws "${aws_args[@]}" ecr create-repository --repository-name "$image" --output text \
    --query repository.repositoryUri
fi

# Login (the password goes through a pipe, never the command line).
printf '+ aws%s ecr get-login-password | %s login --username AWS --password-stdin %s\n' \
  "$(printf ' %q' "${aws_args[@]}")" "$engine" "$registry"
if [ "$dry_run" = 0 ]; then
  aws "${aws_args[@]}" ecr get-login-password | "$engine" login --username AWS --password-stdin "$registry"
fi

# Build.
build=("$engine")
if [ "$engine" = docker ] && docker buildx version >/dev/null 2>&1; then
  build+=(buildx build --provenance=false --load)
elif [ "$engine" = docker ]; then
  build+=(build)         # the classic builder (or podman's API behind the docker CLI): no attestations
else
  build+=(build --format docker)
fi
build+=(--platform linux/amd64 -t "$image:$tag" -t "$fullname" -f "$dockerfile")
run "${build[@]}" ${extra_build_args[@]+"${extra_build_args[@]}"} "$context"

# Push.
run "$engine" push "$fullname"
echo "$fullname"
