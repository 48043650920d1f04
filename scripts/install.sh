#!/usr/bin/env bash
# Installs rockd on a Debian 12 box as a service: the Debian packages it runs, a copy of this
# tree under the prefix with its own virtualenv and the web UI's libraries, `rockd` on the PATH,
# with `rockctl`, and its systemd units, enabled and started where systemd is PID 1.
#
#   scripts/install.sh [--prefix /opt/rockd] [--bin /usr/local/bin]
#                      [--units /etc/systemd/system] [--no-packages] [--no-start]
#                      [--copy-web-libraries]
#
# --copy-web-libraries takes the web UI's libraries from this tree's web/node_modules (made by
# `make setup`) instead of fetching them with npm: for a box without npm or the registry.
#
# Run again to upgrade: the copy is replaced, the state (/var/lib/rockd) is never touched.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

top=$(cd "$(dirname "$0")/.." && pwd)
prefix=/opt/rockd
bin=/usr/local/bin
units=/etc/systemd/system
packages=1
start=1
copy_web=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --units) units=$2; shift 2 ;;
        --no-packages) packages=""; shift ;;
        --no-start) start=""; shift ;;
        --copy-web-libraries) copy_web=1; shift ;;
        *) echo "unknown option $1 (see the head of $0)" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" -ne 0 ]; then
    echo "rockd installs as root (it manages disks)" >&2
    exit 1
fi
# shellcheck source=scripts/debian.sh
. "$top/scripts/debian.sh"

# What rockd runs: btrfs and the block layer, SMART, Samba, OpenSSH's sshd for SFTP, NFS's
# exportfs, the Docker engine for apps, dbus; Python to run it, Node.js's npm to fetch the web
# UI's libraries.
if [ -n "$packages" ]; then
    install_debs btrfs-progs udev util-linux smartmontools python3 python3-venv \
        openssh-server openssh-sftp-server nfs-kernel-server samba samba-vfs-modules \
        docker.io dbus
    [ -n "$copy_web" ] || command -v npm >/dev/null 2>&1 || install_debs nodejs npm
fi

# The code: this tree without what only development needs, in place of the last copy.
mkdir -p "$prefix"
fresh=$(mktemp -d "$prefix/.new.XXXXXX")
tar -C "$top" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./tests \
    --exclude=./bench --exclude=./web/node_modules --exclude=./.setup-stamps \
    --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -C "$fresh" -xf -
for part in rockd rockctl web systemd scripts setup.cfg pyproject.toml README.md; do
    rm -rf "${prefix:?}/$part"
    mv "$fresh/$part" "$prefix/$part"
done
rm -rf "$fresh"

# Its virtualenv (rockd runs from the copy, where it finds its web UI), and the UI's libraries
# exactly as the lock file pins them.
[ -x "$prefix/venv/bin/python" ] || /usr/bin/python3 -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install -q --upgrade pip
"$prefix/venv/bin/pip" install -q -e "$prefix"
if [ -n "$copy_web" ]; then
    cp -a "$top/web/node_modules" "$prefix/web/node_modules"
else
    (cd "$prefix/web" && npm ci --silent --no-audit --no-fund --omit=dev)
fi
mkdir -p "$bin"
ln -sfn "$prefix/venv/bin/rockd" "$bin/rockd"
ln -sfn "$prefix/venv/bin/rockctl" "$bin/rockctl"  # the command-line client

# The units, run from where rockd was put.
mkdir -p "$units"
for unit in "$prefix"/systemd/*.service; do
    sed "s#/usr/local/bin/rockd#$bin/rockd#" "$unit" > "$units/$(basename "$unit")"
done
if [ -n "$start" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now rockd.service
    echo "rockd runs: systemctl status rockd; journalctl -u rockd"
else
    echo "rockd installed in $prefix; start it with: systemctl enable --now rockd"
fi
