#!/bin/sh
# Install usrsvcd's systemd units.
#
#   systemd/install.sh --user            as a service account, no root: the user unit
#                                        in ~/.config/systemd/user (or $XDG_CONFIG_HOME)
#   systemd/install.sh                   as root: /etc/systemd/system/usrsvcd@.service
#                                        and /etc/systemd/user/usrsvcd.service
#   systemd/install.sh DESTDIR=/tmp/pkg  stage them under DESTDIR (packaging); the
#   DESTDIR=/tmp/pkg systemd/install.sh  environment form works too
#   systemd/install.sh USRSVCD=/opt/x/bin/usrsvcd   use this usrsvcd, not the one on $PATH
#   systemd/install.sh --instance web    root mode, usrsvcd in web's own venv: see below
#
# The shipped units name /usr/bin/usrsvcd. The user unit (--user) is one
# user's own file: its Exec lines are rewritten to that user's usrsvcd.
#
# The template usrsvcd@.service is shared by every account (usrsvcd@alice,
# usrsvcd@bob...), so it only ever names a usrsvcd that every account can run:
# a root-owned path that nobody else can write, readable and searchable by all
# (/usr/bin, /usr/local/bin, /opt/usrsvc/venv/bin...). A usrsvcd inside one
# user's venv or pipx (or any path another account cannot run or someone else
# could replace) is never written into it. Instead that user's instance gets a
# drop-in that overrides the Exec lines:
#     /etc/systemd/system/usrsvcd@USER.service.d/usrsvcd-path.conf
# USER is the owner of that usrsvcd, or --instance USER. By hand, the same is
#     systemctl edit usrsvcd@USER      with   [Service]
#                                             ExecStart=
#                                             ExecStart=/home/USER/venv/bin/usrsvcd start --foreground
# (and the same two lines for ExecReload= ... reread and ExecStop= ... stop).
#
# Exit status: 0 installed; 1 nothing was installed (bad argument, no usable
# usrsvcd, no permission, a target directory another account owns or can
# write): the message says why and what to do. Files are written to a mktemp
# file in the checked directory, then renamed over the unit (a symlink planted
# there is replaced, never followed).
set -eu

me=install.sh
usage() {
    cat <<USAGE
Usage: $me [--user] [--instance USER] [DESTDIR=DIR] [USRSVCD=PATH]
  --user           install the user unit for the calling account (no root needed)
  --instance USER  root mode: write usrsvcd@USER's drop-in for a usrsvcd only USER runs
  DESTDIR=DIR      root mode: stage the files under DIR (packaging)
  USRSVCD=PATH     the usrsvcd to run (default: the one on \$PATH)
USAGE
}

fail() {  # fail MESSAGE: say it, install nothing
    echo "$me: $*" >&2
    exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
DESTDIR=${DESTDIR:-}
USRSVCD=${USRSVCD:-}
mode=system
instance=
while [ $# -gt 0 ]; do
    case $1 in
        --user) mode=user ;;
        --instance) [ $# -ge 2 ] || { usage >&2; fail "--instance needs a user name"; }
                    instance=$2; shift ;;
        --instance=*) instance=${1#--instance=} ;;
        DESTDIR=*) DESTDIR=${1#DESTDIR=} ;;
        USRSVCD=*) USRSVCD=${1#USRSVCD=} ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; fail "unknown argument '$1'" ;;
    esac
    shift
done

plain_path() {  # plain_path WHAT PATH: unit files want a plain absolute path
    case $2 in
        *[!A-Za-z0-9/._+-]*|'')
            fail "refusing the unusual $1 '$2' (unit files want a plain path: letters, digits, / . _ + -)" ;;
    esac
}

find_usrsvcd() {
    usrsvcd=${USRSVCD:-$(command -v usrsvcd || true)}
    [ -n "$usrsvcd" ] || fail "usrsvcd is not on \$PATH; install usrsvc first (pip install in a venv," \
        "or pipx), then run this again, or name it: USRSVCD=/path/to/usrsvcd"
    case $usrsvcd in
        /*) ;;
        */*) usrsvcd=$(cd "$(dirname "$usrsvcd")" && pwd)/$(basename "$usrsvcd") ;;
        *) fail "USRSVCD=$usrsvcd: give a path to usrsvcd, e.g. USRSVCD=\$HOME/venv/bin/usrsvcd" ;;
    esac
    plain_path path "$usrsvcd"
    [ -f "$usrsvcd" ] && [ -x "$usrsvcd" ] || fail "$usrsvcd is not an executable file"
}

shared_by_all() {  # shared_by_all FILE: every account may run it and only root can change it
    chain_ok "$1" 5 || return 1
    real=$(readlink -f "$1") && chain_ok "$real" 5 || return 1
    # a script (a venv's console script) is run by its interpreter: that one too
    interpreter=$(head -c 200 "$real" | sed -n '1s|^#![[:space:]]*\(/[^[:space:]]*\).*|\1|p')
    [ -z "$interpreter" ] && return 0
    chain_ok "$interpreter" 1 && chain_ok "$(readlink -f "$interpreter")" 1
}

chain_ok() {  # chain_ok PATH BITS: PATH and each directory above it are root's, written by
              # nobody else, PATH allows others BITS (5: read+run, 1: run) and each level search
    path=$1
    want=$2
    while :; do
        info=$(stat -c '%u %a' "$path" 2>/dev/null) || return 1
        set -- $info
        [ "$1" = 0 ] || return 1
        perm=$(printf '%04d' "$2")
        if [ ! -L "$path" ]; then  # a symlink's own mode means nothing
            case $perm in
                1*) ;;  # sticky (/tmp): others cannot replace the root-owned entry below
                *) case ${perm#??} in [2367]?|?[2367]) return 1 ;; esac ;;  # group/others write
            esac
            others=${perm#???}
            [ $((others & want)) = "$want" ] || return 1
        fi
        [ "$path" = / ] && return 0
        path=$(dirname "$path")
        want=1
    done
}

me_uid=$(id -u)
tmp_file=
trap '[ -z "$tmp_file" ] || rm -f "$tmp_file"' EXIT

owner_name() {  # owner_name UID: the account name, or the number
    getent passwd "$1" 2>/dev/null | cut -d: -f1 | grep . || echo "$1"
}

dir_chain_ok() {  # dir_chain_ok DIR [above]: DIR (physical path) and each directory above
                  # it are the caller's or root's; DIR is writable by nobody else, and a
                  # directory above it only when sticky (/tmp): otherwise another account
                  # could plant a symlink where we write, or swap a directory we checked.
                  # "above": DIR is where we create the target, so it may be sticky too
    path=$1
    leaf=1
    [ "${2:-}" != above ] || leaf=0
    while :; do
        info=$(stat -c '%u %a' "$path" 2>/dev/null) || { why="cannot stat $path"; return 1; }
        set -- $info
        if [ "$1" != 0 ] && [ "$1" != "$me_uid" ]; then
            why="$path belongs to $(owner_name "$1"), not to you or root"
            return 1
        fi
        perm=$(printf '%04d' "$2")
        case ${perm#??} in
            [2367]?|?[2367])
                if [ $leaf = 1 ]; then
                    why="$path is writable by other accounts (mode $perm)"
                    return 1
                fi
                case $perm in
                    1*) ;;  # sticky: others cannot rename or remove our (or root's) entry
                    *) why="$path is writable by other accounts (mode $perm)"; return 1 ;;
                esac ;;
        esac
        [ "$path" = / ] && return 0
        path=$(dirname "$path")
        leaf=0
    done
}

safe_dir() {  # safe_dir DIR: create DIR if needed, refuse it unless it is safe to write in;
              # sets $dir to its physical path (no symlink left to be swapped later)
    existing=$1
    while [ ! -e "$existing" ] && [ ! -L "$existing" ]; do
        existing=$(dirname "$existing")
    done
    [ -d "$existing" ] || fail "$existing is not a directory; nothing was installed"
    physical=$(cd "$existing" && pwd -P) || fail "cannot enter $existing; nothing was installed"
    above=
    [ "$existing" = "$1" ] || above=above
    dir_chain_ok "$physical" $above || fail "refusing to write into $1: $why. Units belong in a" \
        "directory only you (or root) can write, never a shared one; fix the owner or mode" \
        "(chown/chmod go-w) or choose another place. Nothing was installed."
    mkdir -p "$1"
    dir=$(cd "$1" && pwd -P) || fail "cannot enter $1; nothing was installed"
    dir_chain_ok "$dir" || fail "refusing to write into $1: $why (it changed while we" \
        "created it). Nothing was installed."
}

place() {  # place DIR NAME: the temp file $tmp_file (ours, 0600 from mktemp) becomes DIR/NAME
    chmod 644 "$tmp_file"
    if [ -d "$1/$2" ] && [ ! -L "$1/$2" ]; then
        fail "$1/$2 is a directory; remove it, then run this again"
    fi
    # rename: a symlink at DIR/NAME is replaced, never followed
    mv -f -T "$tmp_file" "$1/$2"
    tmp_file=
}

put() {  # put UNIT DIR [USRSVCD]: copy UNIT into DIR, its Exec lines naming USRSVCD
    safe_dir "$2"
    exec_path=${3:-/usr/bin/usrsvcd}
    tmp_file=$(mktemp "$dir/.$1.XXXXXX")  # O_EXCL: never an existing file or a symlink
    sed "s|^\(Exec[A-Za-z]*=\)/usr/bin/usrsvcd|\1$exec_path|" "$here/$1" >"$tmp_file"
    place "$dir" "$1"
    echo "installed $2/$1 (usrsvcd: $exec_path)"
}

put_dropin() {  # put_dropin DIR: usrsvcd@$instance runs $usrsvcd, whatever the template names
    safe_dir "$1"
    tmp_file=$(mktemp "$dir/.usrsvcd-path.conf.XXXXXX")
    cat >"$tmp_file" <<DROPIN
# Written by usrsvc's systemd/install.sh: usrsvcd@$instance runs this usrsvcd
# (one account's own install), not the one the shared template names.
[Service]
ExecStart=
ExecStart=$usrsvcd start --foreground
ExecReload=
ExecReload=$usrsvcd reread
ExecStop=
ExecStop=$usrsvcd stop
DROPIN
    place "$dir" usrsvcd-path.conf
    echo "installed $1/usrsvcd-path.conf (usrsvcd@$instance runs $usrsvcd)"
}

warn_not_mine() {  # warn_not_mine WHAT DIR: a HOME or XDG_CONFIG_HOME of someone else
    [ -e "$2" ] || return 0
    owner=$(stat -L -c %u "$2" 2>/dev/null) || return 0
    [ "$owner" = "$me_uid" ] || echo "$me: warning: $1=$2 belongs to $(owner_name "$owner")," \
        "not to you; is it the right one?" >&2
}

install_user() {
    [ -z "$DESTDIR" ] || fail "DESTDIR is for the root mode; --user installs into your own" \
        "~/.config/systemd/user"
    [ -z "$instance" ] || fail "--instance is for the root mode (the system template unit)"
    [ -n "${HOME:-}" ] && [ -d "$HOME" ] || fail "\$HOME is not set to a directory"
    config_home=${XDG_CONFIG_HOME:-}
    case $config_home in /*) ;; *) config_home=$HOME/.config ;; esac
    warn_not_mine HOME "$HOME"
    [ -z "${XDG_CONFIG_HOME:-}" ] || warn_not_mine XDG_CONFIG_HOME "$XDG_CONFIG_HOME"
    user=$(id -un)
    find_usrsvcd
    put usrsvcd.service "$config_home/systemd/user" "$usrsvcd"
    if [ -e "/var/lib/systemd/linger/$user" ]; then
        linger="lingering is already enabled for $user: usrsvcd starts at boot"
    else
        linger="then ask an admin to run, once (usrsvcd starts at boot, without a login):
    loginctl enable-linger $user"
    fi
    cat <<NEXT

Next steps, as $user:
    systemctl --user daemon-reload && systemctl --user enable --now usrsvcd
$linger
Reload the config with 'systemctl --user reload usrsvcd' (or 'usrsvcd reread');
stopping or restarting the unit leaves every service running.
NEXT
}

install_system() {
    if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
        fail "installing into /etc/systemd needs root; as a service account, run: $0 --user"
    fi
    find_usrsvcd
    system_dir=$DESTDIR/etc/systemd/system
    user_dir=$DESTDIR/etc/systemd/user
    if shared_by_all "$usrsvcd"; then
        [ -z "$instance" ] || echo "$me: $usrsvcd is shared by every account: no drop-in for $instance needed"
        put usrsvcd@.service "$system_dir" "$usrsvcd"
        put usrsvcd.service "$user_dir" "$usrsvcd"
        first=USER
    else
        if [ -z "$instance" ]; then
            instance=$(stat -L -c %U "$usrsvcd")
            [ "$instance" != root ] && [ "$instance" != UNKNOWN ] || fail "$usrsvcd is not one every" \
                "account can run (a root-only or writable place), so the shared template cannot name it;" \
                "say whose instance runs it: --instance USER, or install usrsvc in a shared place" \
                "(e.g. a root-owned /opt/usrsvc venv)"
        fi
        plain_path "user name" "$instance"
        case $instance in -*|.*) fail "refusing the user name '$instance'" ;; esac
        if [ -z "$DESTDIR" ]; then
            id -u "$instance" >/dev/null 2>&1 || fail "no account named '$instance'"
        fi
        # the template as shipped (or as an earlier install of a shared usrsvcd left it)
        [ -f "$system_dir/usrsvcd@.service" ] || put usrsvcd@.service "$system_dir"
        put_dropin "$system_dir/usrsvcd@$instance.service.d"
        echo "not installed: $user_dir/usrsvcd.service (it is shared by every account, and" \
             "$usrsvcd is $instance's own; $instance can use '$0 --user' instead)"
        first=$instance
    fi
    cat <<NEXT

Next steps (pick one per user; two daemons for one user are refused with exit 135):
  as root, for the account $first:   systemctl daemon-reload && systemctl enable --now usrsvcd@$first
  as the user, a user service:     systemctl --user daemon-reload && systemctl --user enable --now usrsvcd
                                   (and, to start it at boot without a login: loginctl enable-linger $first)
Reload the config with 'systemctl reload usrsvcd@$first' (or 'usrsvcd reread');
stopping or restarting the unit leaves every service running.
NEXT
}

if [ "$mode" = user ]; then
    install_user
else
    install_system
fi
