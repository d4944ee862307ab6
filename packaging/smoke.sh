#!/usr/bin/env bash
# Installs the built .deb on this (throwaway, root) machine and uses it from the installed
# paths: the unit verifies, lintian is clean, the edigate user checks the configuration and
# runs `once` over a purchase order, then the package is purged. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(ls target/debian/edigate_*.deb | head -1)
lintian --fail-on error,warning "$deb"
dpkg -i "$deb"
systemd-analyze verify /usr/lib/systemd/system/edigate.service
test "$(stat -c %a:%G /etc/edigate/edigate.toml)" = "640:edigate"
test -s /usr/share/man/man1/edigate.1.gz
as() { runuser -u edigate -- env EDIGATE_LOG=warn "$@"; }
as /usr/bin/edigate --config /etc/edigate/edigate.toml check
cp tests/data/x12/ok/850-4010-acme.edi /var/lib/edigate/inbox/po.edi
chown edigate:edigate /var/lib/edigate/inbox/po.edi
as /usr/bin/edigate --config /etc/edigate/edigate.toml once
test -f /var/lib/edigate/outbox/ACME/acks/997-000000001.x12
ls /var/lib/edigate/outbox/ACME/purchase_order/ | grep -q jsonl
dpkg --purge edigate
rm -rf /var/lib/edigate
echo "the .deb installs, checks, runs and purges"
