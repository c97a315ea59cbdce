# shellcheck shell=bash
# What images/build.sh and deploy/build.sh share, sourced by both: an image
# is tagged orchest/<name>:<hash of its build inputs> (and :latest), and one
# whose hash tag is already on this machine is not built again.
#
# The sourcing script sets LOG_NAME (the prefix of its log lines) before it
# sources this file, and may set ORCHEST_BUILD_CA_BUNDLE. Functions that
# "set" a variable do so because a subshell's output would lose the others.
# shellcheck disable=SC2034  # IMAGE and TEMP_DIR are read by the sourcing script

readonly CA_BUNDLE="${ORCHEST_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
readonly STAGES_LOCK_FILE="${TMPDIR:-/tmp}/orchest-build-stages.lock"

log() { printf '%s: %s\n' "$LOG_NAME" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

TEMP_DIRS=()
cleanup() {
    if ((${#TEMP_DIRS[@]})); then
        rm -rf "${TEMP_DIRS[@]}"
    fi
}
trap cleanup EXIT

new_temp_dir() { # $1: prefix; sets TEMP_DIR to a new empty directory, removed at exit
    TEMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
    TEMP_DIRS+=("$TEMP_DIR")
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# One build at a time on this machine for this lock: concurrent callers
# wait, then find the images cached. The lock is held until the script
# exits or lets it go (one lock held at a time).
hold_build_lock() { # $1: lock file
    if command -v flock >/dev/null; then
        exec 9>"$1"
        flock 9
    fi
}

let_go_build_lock() { exec 9>&-; }

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

# Builds orchest/NAME:HASH from CONTEXT FROM $BASE_IMAGE unless it is on this
# machine, and tags it orchest/NAME:latest. The CA bundle is copied into the
# context (never part of its hash) so that pip in the build reaches PyPI
# through a TLS-inspecting proxy; see the Dockerfiles.
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
        local start=$SECONDS stages
        # Builds run at once (both scripts, and each script's images); each
        # holds a shared lock while it builds, so that the stages another
        # build still uses are never pruned from under it.
        exec {stages}>"$STAGES_LOCK_FILE"
        if command -v flock >/dev/null; then flock -s "$stages"; fi
        docker build --network host \
            --build-arg "BASE_IMAGE=$BASE_IMAGE" \
            --label "org.orchest.image.inputs=$hash" \
            --label "org.orchest.image.base=$BASE_IMAGE" \
            "$@" --tag "$tag" "$context" >&2
        # The legacy builder keeps each build stage as an untagged image; the
        # hash tag, not its layer cache, is what makes a second build fast.
        # The last build to end removes them all (the lock is then its alone).
        if ! command -v flock >/dev/null || flock -x -n "$stages"; then
            docker image prune --force --filter label=org.orchest.image.stage=build >/dev/null
        fi
        exec {stages}>&-
        log "$tag: built in $((SECONDS - start)) s"
    fi
    docker tag "$tag" "orchest/$name:latest"
    IMAGE="$tag"
}
