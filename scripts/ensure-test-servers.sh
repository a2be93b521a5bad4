#!/usr/bin/env bash
# `npm test` runs the rate limits against a real Redis, the Prometheus alert
# rules (deploy/prometheus/) through promtool and the Alertmanager routing through amtool. Make sure the redis-server and
# promtool binaries are there (the tests start their own Redis on a free port,
# or use PETCUT_TEST_REDIS_URL when CI already runs one): on a fresh Debian
# machine as root, install them; elsewhere, say how.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
# Debian's package `prometheus` ships /usr/bin/promtool (--no-install-recommends:
# no node exporter; without systemd nothing is started).
command -v promtool >/dev/null || missing+=(prometheus)
# amtool checks the Alertmanager routing (deploy/alertmanager/).
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
# The web tests (test/web.*) drive a real Chromium with playwright-core; Debian's package, no download.
[[ -n ${PETCUT_CHROMIUM:-} ]] || command -v chromium >/dev/null || missing+=(chromium)
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} (Debian packages) for the rate-limit and alert-rule tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >/dev/null
  exit 0
fi
for pkg in "${missing[@]}"; do
  case $pkg in
    redis-server) echo "npm test needs redis-server: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)" >&2 ;;
    prometheus-alertmanager) echo "npm test needs amtool: install it (Debian/Ubuntu: sudo apt-get install --no-install-recommends prometheus-alertmanager; macOS: brew install alertmanager)" >&2 ;;
    chromium) echo "npm test needs a Chromium for the web tests: install it (Debian/Ubuntu: sudo apt-get install --no-install-recommends chromium) or set PETCUT_CHROMIUM to a Chromium/Chrome binary" >&2 ;;
    prometheus) echo "npm test needs promtool: install it (Debian/Ubuntu: sudo apt-get install --no-install-recommends prometheus; macOS: brew install prometheus; or the prometheus release tarball from prometheus.io)" >&2 ;;
  esac
done
exit 1
