#!/bin/sh
# Enterprise Gateway's kernel launchers, which are not in its wheel: its
# source distribution is fetched from PyPI, checked against its sha256, and
# the members matching each PATTERN (below its etc/kernel-launchers/) are
# extracted into /opt/launchers. Run in the build stages of
# enterprise-gateway/ and kernel-python/, so both take them from the one
# pinned release (3.3.0, as enterprise-gateway/requirements.txt pins).
#
#   eg-launchers.sh PATTERN...     e.g. 'docker/*'
set -eu
url=https://files.pythonhosted.org/packages/fb/df/44db175f849b0347e36090df130e9f4c1bcb97dc543da9197db9a78d25c5/jupyter_enterprise_gateway-3.3.0.tar.gz
sha256=58d61fef0f30d8010553bf3755c7d205c072383849c416916b37d3ef940725b7
if [ -s /tmp/build/build-ca.crt ]; then
    export SSL_CERT_FILE=/tmp/build/build-ca.crt
fi
python3 -c 'import hashlib, sys, urllib.request
url, digest, path = sys.argv[1:]
data = urllib.request.urlopen(url, timeout=300).read()
hashlib.sha256(data).hexdigest() == digest or sys.exit("sha256 mismatch: " + url)
open(path, "wb").write(data)' "$url" "$sha256" /tmp/build/eg.tar.gz
for pattern; do
    set -- "$@" "*/etc/kernel-launchers/$pattern"
    shift
done
mkdir /opt/launchers
tar -xzf /tmp/build/eg.tar.gz -C /opt/launchers --strip-components=3 --wildcards "$@"
