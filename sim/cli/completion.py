"""``hedgesim completion bash|zsh``: a shell completion script, written from hedgesim's own
argparse parser (so it always offers the commands and options of this hedgesim): command
names, each command's options, the choices of options that have them (``--format``,
``--model``, ...), file names for configs, results and ``--out`` / ``--prices`` /
``--funding``. docs/run.md, "Shell completion", says how to install it.
"""

from __future__ import annotations

import argparse
import sys

SHELLS = ("bash", "zsh")
# options whose value is a file name (the others: a number, a duration, a mapping ...)
FILE_OPTIONS = {"--out", "--prices", "--funding"}


def add_parser(sub) -> None:
    c = sub.add_parser("completion", help="print a shell completion script (bash or zsh)",
                       description="Print a completion script for hedgesim's commands and options. bash: "
                                   "`source <(hedgesim completion bash)` (or save it in "
                                   "~/.local/share/bash-completion/completions/hedgesim); zsh: save it as _hedgesim "
                                   "in a folder of $fpath.")
    c.add_argument("shell", choices=SHELLS, help="the shell the script is for")


def cmd(args) -> int:
    parser = args.parser  # hedgesim's own, passed by sim.cli.main
    sys.stdout.write(bash_script(parser) if args.shell == "bash" else zsh_script(parser))
    return 0


# --------------------------------------------------------------------------- the parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """{command: (its parser, its one-line help)} in the order of ``hedgesim --help``."""
    for action in parser._actions:  # argparse offers no public walk of its subcommands
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return {name: (sp, helps.get(name, "")) for name, sp in action.choices.items()}
    return {}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings]


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _help(action_or_text) -> str:
    text = action_or_text if isinstance(action_or_text, str) else (action_or_text.help or "")
    text = text.replace("%%", "%").split("; ")[0].split(" (")[0]
    return text if len(text) <= 70 else text[:67].rstrip() + "..."


# --------------------------------------------------------------------------- bash


def bash_script(parser: argparse.ArgumentParser) -> str:
    from sim.results.meta import version

    subs = _subparsers(parser)
    top = [s for a in _options(parser) for s in a.option_strings]
    cases = []
    for name, (sp, _) in subs.items():
        opts = [s for a in _options(sp) for s in a.option_strings]
        value_cases = []
        files = [s for a in _options(sp) if _takes_value(a) for s in a.option_strings if s in FILE_OPTIONS]
        if files:
            value_cases.append(f"                {'|'.join(files)}) _hedgesim_files; return ;;")
        for a in _options(sp):
            if _takes_value(a) and a.choices:
                value_cases.append(f"                {'|'.join(a.option_strings)}) "
                                   f"COMPREPLY=($(compgen -W \"{' '.join(map(str, a.choices))}\" -- \"$cur\")); "
                                   "return ;;")
        others = [s for a in _options(sp) if _takes_value(a) and not a.choices
                  for s in a.option_strings if s not in FILE_OPTIONS]
        if others:
            value_cases.append(f"                {'|'.join(others)}) return ;;  # a value to type")
        pos = _positionals(sp)
        if pos and pos[0].choices:
            positional = f"COMPREPLY=($(compgen -W \"{' '.join(map(str, pos[0].choices))}\" -- \"$cur\"))"
        elif pos:
            positional = "_hedgesim_files"
        else:
            positional = "COMPREPLY=()"
        cases.append("\n".join([
            f"        {name})",
            "            case \"$prev\" in",
            *value_cases,
            "            esac",
            f"            if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W \"{' '.join(opts)}\" -- \"$cur\")); "
            f"else {positional}; fi",
            "            ;;",
        ]))
    return "\n".join([
        f"# bash completion for hedgesim {version()} (written by `hedgesim completion bash`)",
        "# use: source <(hedgesim completion bash), or save it as",
        "#      ~/.local/share/bash-completion/completions/hedgesim",
        "_hedgesim_files() {",
        "    compopt -o filenames 2>/dev/null",
        "    COMPREPLY=($(compgen -f -- \"$cur\"))",
        "}",
        "_hedgesim() {",
        "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\" cmd=\"\" i",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        "        case \"${COMP_WORDS[i]}\" in -*) ;; *) cmd=\"${COMP_WORDS[i]}\"; break ;; esac",
        "    done",
        "    case \"$cmd\" in",
        f"        \"\") COMPREPLY=($(compgen -W \"{' '.join([*subs, *top])}\" -- \"$cur\")) ;;",
        *cases,
        "    esac",
        "}",
        "complete -F _hedgesim hedgesim",
        "",
    ])


# --------------------------------------------------------------------------- zsh


def _z(text: str) -> str:
    """``text`` inside a single-quoted _arguments spec: brackets and colons escaped."""
    for a, b in (("\\", "\\\\"), ("[", "\\["), ("]", "\\]"), (":", "\\:"), ("'", "'\\''")):
        text = text.replace(a, b)
    return text


def _zsh_value(action: argparse.Action) -> str:
    name = _z(str(action.metavar or action.dest).lower())
    if action.choices:
        return f":{name}:({' '.join(map(str, action.choices))})"
    if action.option_strings and set(action.option_strings) & FILE_OPTIONS or not action.option_strings:
        return f":{name}:_files"
    return f":{name}: "


def zsh_script(parser: argparse.ArgumentParser) -> str:
    from sim.results.meta import version

    subs = _subparsers(parser)
    described = [f"    '{name}:{_help(h).replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}'"
                 for name, (_, h) in subs.items()]  # _describe: NAME:text, only quotes escaped
    cases = []
    for name, (sp, _) in subs.items():
        specs = []
        for a in _options(sp):
            if isinstance(a, argparse._HelpAction):
                specs.append("'(- *)'{-h,--help}'[show help]'")
                continue
            repeat = "*" if isinstance(a, argparse._AppendAction) else ""
            value = _zsh_value(a) if _takes_value(a) else ""
            for s in a.option_strings:
                specs.append(f"'{repeat}{s}[{_z(_help(a))}]{value}'")
        for k, a in enumerate(_positionals(sp), start=1):
            specs.append(f"'{k}{_zsh_value(a)}'")
        cases.append(f"        {name})\n            _arguments -s \\\n                "
                     + " \\\n                ".join(specs) + " ;;")
    return "\n".join([
        "#compdef hedgesim",
        f"# zsh completion for hedgesim {version()} (written by `hedgesim completion zsh`)",
        "# use: hedgesim completion zsh > ~/.zfunc/_hedgesim, with fpath=(~/.zfunc $fpath) before compinit",
        "_hedgesim() {",
        "    local curcontext=\"$curcontext\" state line",
        "    local -a commands",
        "    commands=(",
        *described,
        "    )",
        "    _arguments -C '(- *)--version[show the version]' '(- *)'{-h,--help}'[show help]' "
        "'1:command:->command' '*::argument:->argument'",
        "    case $state in",
        "    command) _describe -t commands 'hedgesim command' commands ;;",
        "    argument)",
        "        case $words[1] in",
        *cases,
        "        esac ;;",
        "    esac",
        "}",
        "_hedgesim \"$@\"",
        "",
    ])
