#!/usr/bin/env bash
# Installs everything rockd needs on a Debian 12 machine, idempotently: the Debian packages,
# a virtualenv with rockd and its test tools, and the web UI's npm packages. Quick when all of
# it is already there: each step is skipped while its inputs are unchanged.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

top=$(cd "$(dirname "$0")/.." && pwd)
stamps="$top/.setup-stamps"
mkdir -p "$stamps"

if [ "$(id -u)" -ne 0 ]; then
    echo "rockd set-up must run as root (it manages disks and installs packages)" >&2
    exit 1
fi

# Debian packages: what rockd runs (btrfs-progs, udev, util-linux), what builds the virtualenv,
# Chromium for the browser tests, dbus (its dbus-daemon) for the systemd backend's tests, and
# Node.js/npm for the web UI's packages (skipped where another Node.js is installed).
debs=(btrfs-progs udev util-linux smartmontools python3 python3-venv python3-dev gcc chromium dbus)
command -v npm >/dev/null 2>&1 || debs+=(nodejs npm)
# OpenSSH's sshd and sftp (rockd's SFTP server, the tests' client) and exportfs (NFS exports):
# rockd runs these daemons itself, so their installation must not start them (policy-rc.d).
debs+=(openssh-server openssh-sftp-server openssh-client nfs-kernel-server)
# Samba: smbd, testparm, pdbedit/smbpasswd, the VFS modules (shadow_copy2 for previous
# versions, btrfs), and smbclient for the tests.
debs+=(samba samba-vfs-modules smbclient)
# Apps: the Docker engine (rockd talks to its API; install_debs' policy-rc.d guard keeps the
# installation from starting a system dockerd), and for the apps tests a local registry and
# busybox-static, from which they make their image.
debs+=(docker.io docker-registry busybox-static)
# Prometheus and promtool: the tests check monitoring/'s rules and scrape rockd with a real
# Prometheus (its own process; the package's service is never started).
debs+=(prometheus)
# systemd-nspawn and debootstrap: the install test boots a Debian root with systemd as PID 1.
debs+=(systemd-container debootstrap)
# The box itself: NetworkManager (rockd drives it over D-Bus; its tests run it on a private bus
# in a network namespace), chrony (NTP), duperemove (dedup), hdparm (spin-down), fstrim
# (util-linux), and NUT's upsd, upsmon and dummy-ups driver (the UPS; its tests replay a power
# failure). None is started by its installation.
debs+=(network-manager chrony duperemove hdparm nut-server nut-client iproute2)
# shellcheck source=scripts/debian.sh
. "$top/scripts/debian.sh"
install_debs "${debs[@]}"

# The virtualenv, on Debian's own Python 3.11 so that its system bindings fit.
venv="$top/.venv"
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
want=$(cat "$top/setup.cfg" "$top/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamps/python" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -e "$top[test]"
    echo "$want" > "$stamps/python"
fi

# The web UI's libraries, exactly as the lock file pins them.
want=$(sha256sum "$top/web/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamps/web" 2>/dev/null)" != "$want" ] || [ ! -d "$top/web/node_modules" ]; then
    (cd "$top/web" && npm ci --silent --no-audit --no-fund)
    echo "$want" > "$stamps/web"
fi
