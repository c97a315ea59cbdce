#!/usr/bin/env bash
# Makes this machine ready for the test suite, then runs the given command in
# it (make test runs: scripts/test-env.sh uv run pytest ...).
#
#   scripts/test-env.sh COMMAND...   set up, run COMMAND, tear down what was started
#   scripts/test-env.sh --check      say what is missing; install and start nothing
#
# The Docker tier (tests/docker) needs a Docker engine, debootstrap (a Debian
# base image is made here where no registry answers) and compose (the v2
# plugin or Debian's docker-compose). What is missing is installed when this
# script may (root, on Linux with apt-get); a dockerd is started when none
# answers, and stopped, by its PID, when COMMAND ends. Where it may not, it
# says in one line what to install, and fails: nothing is skipped silently.
# ORCHEST_TEST_DOCKER=0 (make test DOCKER=0) leaves the Docker tier out, and
# says so. The dashboard's browser tests (tests/e2e/test_dashboard.py) need
# Debian's chromium (ORCHEST_TEST_CHROMIUM, default /usr/bin/chromium),
# installed the same way.
set -euo pipefail

check_only=0
if [ "${1:-}" = "--check" ]; then
    check_only=1
    shift
fi
if [ "$check_only" = 0 ] && [ "$#" = 0 ]; then
    echo "usage: $0 COMMAND... | --check" >&2
    exit 2
fi

with_docker=${ORCHEST_TEST_DOCKER:-1}
chromium=${ORCHEST_TEST_CHROMIUM:-/usr/bin/chromium}
dockerd_log=${TMPDIR:-/tmp}/orchest-test-dockerd.log

say() { echo "test-env: $*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

may_install() {
    [ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ] && have apt-get
}

compose_answers() {
    { have docker && docker compose version >/dev/null 2>&1; } || have docker-compose
}

# The Debian packages the tests need and this machine lacks.
missing_packages() {
    local packages=()
    if [ "$with_docker" != 0 ]; then
        { have docker && have dockerd; } || packages+=(docker.io)
        have debootstrap || packages+=(debootstrap)
        compose_answers || packages+=(docker-compose)
    fi
    [ -x "$chromium" ] || packages+=(chromium)
    echo "${packages[@]}"
}

engine_answers() {
    have docker && docker info >/dev/null 2>&1
}

read -r -a missing <<<"$(missing_packages)"

if [ "$check_only" = 1 ]; then
    if [ "$with_docker" = 0 ]; then
        say "Docker tier left out (ORCHEST_TEST_DOCKER=0)"
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        say "missing: ${missing[*]} (apt-get install -y ${missing[*]})"
        exit 1
    fi
    if [ "$with_docker" != 0 ] && ! engine_answers; then
        say "no Docker engine answers (make test starts one as root: dockerd --bridge=none --iptables=false)"
        exit 1
    fi
    say "ready"
    exit 0
fi

if [ "${#missing[@]}" -gt 0 ]; then
    if ! may_install; then
        say "the tests need ${missing[*]}: as root, apt-get install -y ${missing[*]}" \
            "(or make test DOCKER=0 to leave the Docker tests out)"
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

dockerd_pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
stop_dockerd() {
    if [ -n "$dockerd_pid" ]; then
        say "stopping the dockerd it started (pid $dockerd_pid)"
        kill "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
    fi
}

if [ "$with_docker" = 0 ]; then
    say "Docker tier left out (ORCHEST_TEST_DOCKER=0): tests/docker does not run"
elif ! engine_answers; then
    if [ "$(id -u)" != 0 ]; then
        say "no Docker engine answers: start one (as root: dockerd --bridge=none" \
            "--iptables=false) or make test DOCKER=0 to leave the Docker tests out"
        exit 1
    fi
    # Host networking only: no bridge, no iptables rules.
    dockerd --bridge=none --iptables=false >"$dockerd_log" 2>&1 &
    dockerd_pid=$!
    trap stop_dockerd EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    say "started dockerd (pid $dockerd_pid, log $dockerd_log)"
    for _ in $(seq 1 120); do
        engine_answers && break
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            say "dockerd exited at start:"
            tail -n 20 "$dockerd_log" >&2
            dockerd_pid=""
            exit 1
        fi
        sleep 0.5
    done
    if ! engine_answers; then
        say "dockerd did not answer within 60 s (log: $dockerd_log)"
        exit 1
    fi
fi

# ORCHEST_TEST_PREBUILD=1 (make test without PYTEST_ARGS) builds the Docker
# tier's images in the background while the other tiers run: the image
# fixtures call the same build scripts, which wait for these (a lock) and
# then find the images cached. Stopped, by PID, if COMMAND ends first.
prebuild_pid=""
prebuild_log=${TMPDIR:-/tmp}/orchest-test-images.log
# shellcheck disable=SC2317  # called by the EXIT trap
stop_prebuild() {
    if [ -n "$prebuild_pid" ] && kill -0 "$prebuild_pid" 2>/dev/null; then
        say "stopping the image builds it started (pid $prebuild_pid)"
        kill -TERM "$prebuild_pid" 2>/dev/null || true
        wait "$prebuild_pid" 2>/dev/null || true
    fi
}
if [ "$with_docker" != 0 ] && [ "${ORCHEST_TEST_PREBUILD:-0}" = 1 ]; then
    here=$(cd "$(dirname "$0")/.." && pwd)
    (
        # The base first, then both scripts' images at once.
        trap 'kill $(jobs -p) 2>/dev/null; exit 143' TERM
        "$here/images/build.sh" --print-base >/dev/null || exit 1
        "$here/images/build.sh" >/dev/null &
        "$here/deploy/build.sh" >/dev/null &
        wait
    ) >"$prebuild_log" 2>&1 &
    prebuild_pid=$!
    trap 'stop_prebuild; stop_dockerd' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    say "building the Docker tier's images in the background (pid $prebuild_pid, log $prebuild_log)"
fi

# Not exec: the trap must stop the dockerd started above once COMMAND ends.
status=0
"$@" || status=$?
exit "$status"
