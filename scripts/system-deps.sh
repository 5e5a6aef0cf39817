#!/usr/bin/env bash
# Install the system packages some tests need, when they are missing and we can.
# PostgreSQL (server binaries for pytest-postgresql), Chromium (HTML report check) and
# its driver (tests/browser: Selenium drives it through /usr/bin/chromedriver, never
# Selenium Manager, which would download one).
set -u
need=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
# A CJK font, so that Chinese text in report screenshots is drawn rather than boxes.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${need[*]}; tests that need them will be skipped" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
  || echo "system-deps: could not install ${need[*]}; those tests will be skipped" >&2
exit 0
