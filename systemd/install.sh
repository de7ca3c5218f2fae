#!/bin/sh
# Install usrsvcd's systemd units.
#
#   systemd/install.sh                  install into /etc/systemd/{system,user}
#   DESTDIR=/tmp/pkg systemd/install.sh stage them under $DESTDIR (packaging)
#   USRSVCD=/opt/x/bin/usrsvcd systemd/install.sh   use this usrsvcd
#
# The units name /usr/bin/usrsvcd; their Exec lines are rewritten to the
# usrsvcd found on $PATH (or $USRSVCD), so a pip or venv install works too.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
DESTDIR=${DESTDIR:-}
usrsvcd=${USRSVCD:-$(command -v usrsvcd || true)}

if [ -z "$usrsvcd" ]; then
    echo "install.sh: usrsvcd is not on \$PATH; install usrsvc first, or set USRSVCD=/path/to/usrsvcd" >&2
    exit 1
fi
case $usrsvcd in
    /*) ;;
    *) usrsvcd=$(cd "$(dirname "$usrsvcd")" && pwd)/$(basename "$usrsvcd") ;;
esac
case $usrsvcd in
    *[!A-Za-z0-9/._+-]*)
        echo "install.sh: refusing the unusual path '$usrsvcd' (unit files want a plain path)" >&2
        exit 1 ;;
esac
if [ ! -x "$usrsvcd" ]; then
    echo "install.sh: $usrsvcd is not executable" >&2
    exit 1
fi

system_dir=$DESTDIR/etc/systemd/system
user_dir=$DESTDIR/etc/systemd/user

put() {  # put UNIT DIR: copy with the Exec lines pointing at $usrsvcd
    mkdir -p "$2"
    sed "s|^\(Exec[A-Za-z]*=\)/usr/bin/usrsvcd|\1$usrsvcd|" "$here/$1" >"$2/$1.new"
    chmod 644 "$2/$1.new"
    mv -f "$2/$1.new" "$2/$1"
    echo "installed $2/$1 (usrsvcd: $usrsvcd)"
}

put usrsvcd@.service "$system_dir"
put usrsvcd.service "$user_dir"

cat <<NEXT

Next steps (pick one per user; two daemons for one user are refused with exit 135):
  as root, for the account USER:   systemctl daemon-reload && systemctl enable --now usrsvcd@USER
  as the user, a user service:     systemctl --user daemon-reload && systemctl --user enable --now usrsvcd
                                   (and, to start it at boot without a login: loginctl enable-linger USER)
Reload the config with 'systemctl reload usrsvcd@USER' (or 'usrsvcd reread');
stopping or restarting the unit leaves every service running.
NEXT
