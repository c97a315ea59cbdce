#!/bin/sh
# The build stages' virtual environment, run in the images' Dockerfiles (and
# deploy/'s): makes VENV and installs each requirements file into it with
# --require-hashes --no-deps, then `pip check`s what REQUIREMENTS brought.
# The UNCHECKED files are installed after the check (kernel-python's Orchest
# SDK, whose own pins pip check would refuse; see its requirements-sdk.txt).
# build-ca.crt, next to this script in /tmp/build, is the building machine's
# CA bundle or an empty file (build.sh puts it in the build context), so pip
# reaches PyPI through a TLS-inspecting proxy.
#
#   python-env.sh VENV REQUIREMENTS [UNCHECKED...]
set -eu
venv=$1 requirements=$2
shift 2
if [ -s /tmp/build/build-ca.crt ]; then
    export PIP_CERT=/tmp/build/build-ca.crt SSL_CERT_FILE=/tmp/build/build-ca.crt
fi
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
python3 -m venv "$venv"
"$venv/bin/pip" install --require-hashes --no-deps -r "$requirements"
"$venv/bin/pip" check
for unchecked in "$@"; do
    "$venv/bin/pip" install --require-hashes --no-deps -r "$unchecked"
done
