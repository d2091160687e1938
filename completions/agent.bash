# bash completion for agent(1). The candidates come from `agent __complete`, which reads the
# command declarations and the repository, so new commands, flags, story IDs and personas
# complete without editing this file. Installed as
# share/bash-completion/completions/agent; or source it from ~/.bashrc.

_agent() {
    local cur words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        # bash-completion's helper keeps --flag=value and IDs with ':' as one word
        _init_completion -n =: || return
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
    fi

    # the same binary the user is completing for, with the words after it
    local lines
    mapfile -t lines < <("${words[0]}" __complete -- "${words[@]:1:cword}" 2>/dev/null)

    # A value typed as --flag=VALUE: the candidates carry the '--flag=', which readline keeps
    # when '=' breaks words (the default), so only the value is replaced. Without
    # bash-completion the words arrive split ('--flag' '=' 'VALUE') and cur may be the '='.
    local flag= value=$cur
    [[ $cur == = ]] && value=
    if [[ $cur == --*=* ]]; then
        flag=${cur%%=*}=
        value=${cur#*=}
    fi
    local keep=$flag
    [[ $COMP_WORDBREAKS == *=* ]] && keep=

    case ${lines[0]-} in
        :files | :dirs)
            compopt -o filenames 2>/dev/null
            local kind=-f
            [[ ${lines[0]} == :dirs ]] && kind=-d
            mapfile -t COMPREPLY < <(compgen "$kind" -- "$value")
            [[ -n $keep && ${#COMPREPLY[@]} -gt 0 ]] && COMPREPLY=("${COMPREPLY[@]/#/$keep}")
            ;;
        *)
            # "word<TAB>description": bash shows words only
            COMPREPLY=("${lines[@]%%$'\t'*}")
            [[ -n $flag && -z $keep ]] && COMPREPLY=("${COMPREPLY[@]#"$flag"}")
            ;;
    esac
}

complete -F _agent agent
