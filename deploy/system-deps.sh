#!/usr/bin/env bash
# Debian packages that borne's demo and tests need: installed with apt-get when missing and running as root,
# otherwise listed with the command to run.
#   mosquitto         the MQTT broker the tests start on free ports (and kill)
#   postgresql        initdb/pg_ctl for the tests' throw-away cluster
#   chromium          headless browser for the dashboard tests
#   libgl1 libegl1 libmtdev1 xvfb   what Kivy's SDL window needs, offscreen
#   cloud-init systemd   schema check of the generated user-data, systemd-analyze verify
#   zbar-tools        zbarimg reads back the kiosk label's QR code (provisioning tests)
#   xdotool           clicks the real touch kiosk in an Xvfb window (bench/kiosk_touch.py)
#   nodejs npm        the OpenID Connect provider of the sign-in tests and the demo (dev/oidc, oidc-provider)
#   poppler-utils     pdftoppm and pdftotext render the monthly reports' PDF pages (tests/reports)
set -euo pipefail
want=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
have_cmd mosquitto || [ -x /usr/sbin/mosquitto ] || want+=(mosquitto)
have_cmd mosquitto_pub || want+=(mosquitto-clients)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
if [ "${BORNE_SKIP_BROWSER:-0}" != 1 ]; then
  have_cmd chromium || [ -x /usr/bin/chromium ] || want+=(chromium)
fi
for pkg in libgl1 libegl1 libmtdev1 xvfb; do have_pkg "$pkg" || want+=("$pkg"); done
have_cmd cloud-init || want+=(cloud-init)
have_cmd systemd-analyze || want+=(systemd)
have_cmd zbarimg || want+=(zbar-tools)
have_cmd xdotool || want+=(xdotool)
have_cmd node || want+=(nodejs)
have_cmd npm || want+=(npm)
have_cmd pdftoppm || want+=(poppler-utils)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && have_cmd apt-get; then
  echo "installing Debian packages: ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  # The package starts a broker on 1883 and a cluster on 5432; borne's tests start their own.
else
  echo "missing Debian packages: ${want[*]}" >&2
  echo "install them with: sudo apt-get install ${want[*]}" >&2
  exit 1
fi
