# Debian packages for the set-up and install scripts (sourced, not run).

# install_debs PACKAGE...: installs those not installed yet, without starting the daemons they
# bring (rockd runs smbd, sshd, dockerd itself or through systemd: a policy-rc.d keeps the
# packages' own scripts from starting them meanwhile).
install_debs() {
    local missing=() p no_starts=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        no_starts=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    [ -z "$no_starts" ] || rm -f /usr/sbin/policy-rc.d
}
