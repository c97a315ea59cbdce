#!/usr/bin/env bash
# Builds the images of images/ (see README.md), each tagged
# orchest/<name>:<hash of its build inputs> and orchest/<name>:latest. An
# image whose hash tag is already on this machine is not built again.
#
#   images/build.sh [--base IMAGE | --bootstrap] [NAME...]
#   images/build.sh [--base IMAGE | --bootstrap] --print-base
#
# The base: --base IMAGE; else python:3.11-slim, pulled if missing; else (no
# registry) a Debian bookworm base bootstrapped here with debootstrap and
# imported as orchest/base:bookworm-<hash of its recipe>, also built once.
# Prints the images, one a line, on stdout; everything else goes to stderr.
# --print-base only chooses (or bootstraps) the base and prints it: other
# builds (deploy/build.sh) start from the same base.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly ALL_IMAGES=(enterprise-gateway jupyter-server kernel-python)
readonly DEFAULT_BASE=python:3.11-slim
readonly BOOTSTRAP_SUITE=bookworm
readonly BOOTSTRAP_PACKAGES=python3.11,python3-venv,python3-pip,ca-certificates
readonly DEBIAN_MIRROR="${ORCHEST_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly LOCK_FILE="${TMPDIR:-/tmp}/orchest-images-build.lock"
readonly BASE_LOCK_FILE="${TMPDIR:-/tmp}/orchest-images-base.lock"

LOG_NAME=images/build.sh
# shellcheck source=images/tagging.sh
source "$HERE/tagging.sh"

usage() {
    cat <<EOF
usage: images/build.sh [--base IMAGE | --bootstrap] [NAME...]
       images/build.sh [--base IMAGE | --bootstrap] --print-base

Builds orchest/NAME:<inputs hash> and orchest/NAME:latest for each NAME
(default: ${ALL_IMAGES[*]}), skipping those already built.

  --base IMAGE   build FROM this image (pulled if missing)
  --bootstrap    build FROM a Debian ${BOOTSTRAP_SUITE} base made here with debootstrap,
                 even when ${DEFAULT_BASE} is available
  --print-base   print the base (made first if need be) and build nothing

Environment: ORCHEST_DEBIAN_MIRROR (default http://deb.debian.org/debian),
ORCHEST_BUILD_CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt).
EOF
}

# A Debian root filesystem with Python 3.11, imported as an image. Its tag
# hashes the recipe (this function's text and its settings), not the day it
# ran: it is bootstrapped once per machine, then reused.
bootstrap_base() { # sets BASE_IMAGE
    local hash tag rootfs
    hash="$(printf '%s\n' "$BOOTSTRAP_SUITE" "$BOOTSTRAP_PACKAGES" "$(declare -f bootstrap_base)" |
        sha256sum | cut -c1-12)"
    tag="orchest/base:${BOOTSTRAP_SUITE}-${hash}"
    BASE_IMAGE="$tag"
    if image_exists "$tag"; then
        log "base $tag: cached"
        return
    fi
    [[ $EUID -eq 0 ]] || die "bootstrapping a base needs root (debootstrap); or give --base IMAGE"
    command -v debootstrap >/dev/null ||
        die "debootstrap is missing (apt-get install -y debootstrap); or give --base IMAGE"
    log "base $tag: debootstrap $BOOTSTRAP_SUITE (minbase) from $DEBIAN_MIRROR"
    local start=$SECONDS
    new_temp_dir orchest-base
    rootfs="$TEMP_DIR"
    debootstrap --variant=minbase --include="$BOOTSTRAP_PACKAGES" \
        "$BOOTSTRAP_SUITE" "$rootfs" "$DEBIAN_MIRROR" >&2
    # Nothing of the building host: docker provides these at run time.
    : >"$rootfs/etc/resolv.conf"
    : >"$rootfs/etc/hostname"
    # Slim, as Debian's own slim images: no package lists, caches, logs,
    # documentation or translations, nor will later apt-get installs add any.
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
        'path-exclude /usr/share/locale/*' >"$rootfs/etc/dpkg/dpkg.cfg.d/orchest-slim"
    printf '%s\n' 'APT::Install-Recommends "false";' >"$rootfs/etc/apt/apt.conf.d/99orchest-no-recommends"
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
        "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
    tar -C "$rootfs" --numeric-owner \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["/bin/bash"]' \
            --message "debootstrap --variant=minbase --include=$BOOTSTRAP_PACKAGES $BOOTSTRAP_SUITE" \
            - "$tag" >&2
    log "base $tag: made in $((SECONDS - start)) s"
}

resolve_base() { # $1: --base value or ""; $2: 1 for --bootstrap; sets BASE_IMAGE
    if [[ -n $1 ]]; then
        if ! image_exists "$1"; then
            log "base $1: pulling"
            docker pull "$1" >&2 || die "base $1 is not on this machine and cannot be pulled"
        fi
        BASE_IMAGE="$1"
    elif (($2)); then
        bootstrap_base
    elif image_exists "$DEFAULT_BASE"; then
        BASE_IMAGE="$DEFAULT_BASE"
    elif log "base $DEFAULT_BASE: pulling" && timeout 600 docker pull "$DEFAULT_BASE" >&2; then
        BASE_IMAGE="$DEFAULT_BASE"
    else
        log "base $DEFAULT_BASE cannot be pulled: bootstrapping a Debian $BOOTSTRAP_SUITE base"
        bootstrap_base
    fi
}

# Builds the images named at once (they share nothing but the base and
# stage/): each build's output is kept apart and printed whole when it ends,
# so the logs do not interleave. A failed build fails the script, once all have ended.
build_folders() { # $1: base image id, $2...: names; sets IMAGES
    local base_id=$1 name hash pid failed=()
    shift
    local -A pids=() logs=()
    IMAGES=()
    new_temp_dir orchest-images-logs
    local log_dir=$TEMP_DIR
    for name in "$@"; do
        new_temp_dir "orchest-$name-context"
        cp -a "$HERE/$name/." "$TEMP_DIR/"
        cp -a "$HERE/stage" "$TEMP_DIR/stage"
        hash="$(inputs_hash "$TEMP_DIR" "base $base_id")"
        IMAGES+=("orchest/$name:$hash")
        logs[$name]="$log_dir/$name.log"
        build_image "$name" "$TEMP_DIR" "$hash" >/dev/null 2>"${logs[$name]}" &
        pids[$name]=$!
    done
    for name in "$@"; do
        pid=${pids[$name]}
        wait "$pid" || failed+=("$name")
        cat "${logs[$name]}" >&2
    done
    ((${#failed[@]} == 0)) || die "building ${failed[*]} failed (see above)"
}

main() {
    local base="" bootstrap=0 print_base=0 names=() name
    while (($#)); do
        case "$1" in
        --base)
            (($# >= 2)) || die "--base needs an image"
            base="$2"
            shift 2
            ;;
        --base=*)
            base="${1#--base=}"
            shift
            ;;
        --bootstrap)
            bootstrap=1
            shift
            ;;
        --print-base)
            print_base=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*) die "unknown option $1 (see --help)" ;;
        *)
            names+=("$1")
            shift
            ;;
        esac
    done
    [[ -z $base || $bootstrap -eq 0 ]] || die "--base and --bootstrap exclude each other"
    ((${#names[@]})) || names=("${ALL_IMAGES[@]}")
    for name in "${names[@]}"; do
        [[ -f $HERE/$name/Dockerfile ]] || die "no image $name (images: ${ALL_IMAGES[*]})"
    done

    command -v docker >/dev/null || die "the docker client is missing"
    docker info >/dev/null 2>&1 ||
        die "no Docker daemon answers (here: dockerd --bridge=none --iptables=false)"

    # One base at a time, then one build of these images at a time on this
    # machine: concurrent callers wait, then find them cached. The base's
    # lock is let go once it is chosen, so that deploy/build.sh (which asks
    # for it) builds its images meanwhile.
    local start=$SECONDS base_id
    hold_build_lock "$BASE_LOCK_FILE"
    resolve_base "$base" "$bootstrap"
    let_go_build_lock
    if ((print_base)); then
        printf '%s\n' "$BASE_IMAGE"
        return
    fi
    hold_build_lock "$LOCK_FILE"
    base_id="$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE")"
    build_folders "$base_id" "${names[@]}"
    log "done in $((SECONDS - start)) s (base $BASE_IMAGE)"
    printf '%s\n' "${IMAGES[@]}"
}

main "$@"
