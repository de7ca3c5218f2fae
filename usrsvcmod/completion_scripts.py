"""The completion scripts, as templates completion.script() fills in (@actions@,
@options@...). Each asks the usrsvc being completed (the command word as typed,
so a venv's ``.venv/bin/usrsvc`` answers for its own config) for program names
with ``usrsvc [--config PATH] __complete names``, passing on a ``--config`` given
on the line. Names are matched against the typed prefix by the shell itself,
never expanded, and inserted quoted (bash: ``printf %q``; zsh: compadd's own
quoting, no ``-Q``; fish quotes by itself): a name like ``$(x)`` is offered
and put on the line as text, never run when the line is accepted, and
``a b`` stays one word.
"""

BASH = r'''# bash completion for usrsvc. Install:
#   mkdir -p ~/.local/share/bash-completion/completions
#   usrsvc completion bash > ~/.local/share/bash-completion/completions/usrsvc
_usrsvc_hosts() {
    # the Host names of ~/.ssh/config (patterns left out), for -H
    local key value word
    local -a values
    [[ -r ~/.ssh/config ]] || return 0
    while read -r key value; do
        [[ ${key,,} == host ]] || continue
        read -ra values <<< "$value"
        for word in "${values[@]}"; do
            [[ $word == *[*?!]* ]] || printf '%s\n' "$word"
        done
    done < ~/.ssh/config
}
_usrsvc() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}
    local actions="@actions@" no_names=" @no_names@ "
    local options="@options@" value_options=" @value_options@ "
    local cmd=${COMP_WORDS[0]} action= count=0 i word
    local -a config=()
    [[ $cmd == "~/"* ]] && cmd=$HOME/${cmd#"~/"}
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        case $word in
            -c|--config)
                config=(--config "${COMP_WORDS[i+1]/#\~\//$HOME/}"); ((i++)); continue ;;
            --config=*) config=("$word"); continue ;;
            -*) [[ $value_options == *" $word "* ]] && ((i++)); continue ;;
        esac
        if [[ -z $action ]]; then action=$word; else ((count++)); fi
    done
    COMPREPLY=()
    if [[ $prev == -H || $prev == --host ]]; then
        local head= part=$cur host
        [[ $cur == *,* ]] && head=${cur%,*}, part=${cur##*,}
        while IFS= read -r host; do
            [[ $host == "$part"* ]] && COMPREPLY+=("$head$host")
        done < <(_usrsvc_hosts)
        return 0
    fi
    if [[ $value_options == *" $prev "* ]]; then
        [[ $prev == -c || $prev == --config ]] && COMPREPLY=($(compgen -f -- "$cur"))
        return 0
    fi
    local -a words=()
    if [[ $cur == -* ]]; then
        words=($options)
    elif [[ -z $action ]]; then
        words=($actions)
    elif [[ $action == completion ]]; then
        ((count == 0)) && words=(@shells@)
    elif [[ $action == signal && $count -eq 1 ]]; then
        words=(@signals@)
    elif [[ $no_names != *" $action "* ]]; then
        # a name goes on the line quoted: "$(x)" or "a b" must stay one literal word
        local name quoted
        while IFS= read -r name; do
            printf -v quoted %q "$name"
            [[ $name == "$cur"* || $quoted == "$cur"* ]] && COMPREPLY+=("$quoted")
        done < <("$cmd" "${config[@]}" __complete names 2>/dev/null)
        return 0
    fi
    for word in "${words[@]}"; do
        [[ $word == "$cur"* ]] && COMPREPLY+=("$word")
    done
    return 0
}
complete -F _usrsvc usrsvc
'''

ZSH = r'''#compdef usrsvc
# zsh completion for usrsvc. Install (a directory of your $fpath):
#   mkdir -p ~/.zfunc && usrsvc completion zsh > ~/.zfunc/_usrsvc
#   and in ~/.zshrc, before compinit: fpath=(~/.zfunc $fpath)
_usrsvc() {
    local -a actions options value_options no_names config found
    actions=(@actions@)
    options=(@options@)
    value_options=(@value_options@)
    no_names=(@no_names@)
    local cmd=${~words[1]} action= word
    integer i count=0
    for (( i = 2; i < CURRENT; i++ )); do
        word=${words[i]}
        case $word in
            -c|--config) config=(--config ${~words[i+1]}); (( i++ )); continue ;;
            --config=*) config=($word); continue ;;
            -*) (( ${value_options[(Ie)$word]} )) && (( i++ )); continue ;;
        esac
        if [[ -z $action ]]; then action=$word; else (( count++ )); fi
    done
    local prev=${words[CURRENT-1]}
    if (( ${value_options[(Ie)$prev]} )); then
        [[ $prev == (-c|--config) ]] && _files
        [[ $prev == (-H|--host) ]] && _sequence _hosts
        return
    fi
    if [[ $PREFIX == -* ]]; then
        compadd -- $options
    elif [[ -z $action ]]; then
        compadd -- $actions
    elif [[ $action == completion ]]; then
        (( count == 0 )) && compadd -- @shells@
    elif [[ $action == signal ]] && (( count == 1 )); then
        compadd -- @signals@
    elif (( ! ${no_names[(Ie)$action]} )); then
        found=("${(@f)$($cmd $config __complete names 2>/dev/null)}")
        compadd -- ${found:#}  # no -Q: zsh quotes $(x) and "a b" on the line
    fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _usrsvc "$@"
else
    compdef _usrsvc usrsvc
fi
'''

FISH = r'''# fish completion for usrsvc. Install:
#   usrsvc completion fish > ~/.config/fish/completions/usrsvc.fish
function __usrsvc_words
    # the words before the cursor, without options: the action, then names
    set -l words (commandline -opc)
    set -e words[1]
    set -l skip 0
    for word in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $word
            case @value_options@
                set skip 1
            case '-*'
            case '*'
                echo $word
        end
    end
end
function __usrsvc_needs_action
    test (count (__usrsvc_words)) -eq 0
end
function __usrsvc_wants_names
    set -l words (__usrsvc_words)
    test (count $words) -ge 1; or return 1
    contains -- $words[1] @no_names@; and return 1
    if test $words[1] = signal
        test (count $words) -ne 2
        return
    end
    return 0
end
function __usrsvc_at
    # true when the action is $argv[1] and $argv[2] words (the action included) are typed
    set -l words (__usrsvc_words)
    test (count $words) -eq $argv[2]; and test "$words[1]" = $argv[1]
end
function __usrsvc_names
    set -l line (commandline -opc)
    set -l config
    set -l i 2
    while test $i -le (count $line)
        switch $line[$i]
            case -c --config
                set config --config $line[(math $i + 1)]
            case '--config=*'
                set config $line[$i]
        end
        set i (math $i + 1)
    end
    $line[1] $config __complete names 2>/dev/null
end
complete -c usrsvc -f
complete -c usrsvc -n __usrsvc_needs_action -a '@actions@'
complete -c usrsvc -n '__usrsvc_wants_names' -a '(__usrsvc_names)'
complete -c usrsvc -n '__usrsvc_at completion 1' -a '@shells@'
complete -c usrsvc -n '__usrsvc_at signal 2' -a '@signals@'
@fish_options@
'''
