"""OS command injection: a shell separator or substitution followed by a command.

Values are first normalised as a shell would read them: lower-cased, the quoting and
escaping characters that a shell drops (``\\ ' " ^``) removed, ``$IFS`` turned into a
space and brace expansion (``{cat,/etc/passwd}``) opened. A detection needs a separator
(``; | & `` newline, backtick, ``$(``) followed by a known command, and, for commands that
only hurt with arguments, something that looks like one (an option, a path, a number, a
host); probe commands (``id``, ``whoami``…) count alone. A few idioms count anywhere:
``/dev/tcp/``, ``sh -c``, ``curl … | sh``, ``$IFS``, ``cmd /c``, PowerShell downloaders.
"""

from __future__ import annotations

import re
from typing import Final

from stockade.waf.decision import Detection
from stockade.waf.protections.interface import (
    PatternRule,
    PatternSet,
    VerdictMemo,
    detection,
    first_match,
    snippet,
)
from stockade.waf.protections.view import (
    ARG,
    ARG_NAME,
    COOKIE,
    COOKIE_NAME,
    PATH,
    XML,
    Input,
    RequestView,
)

__all__ = ["CommandInjection", "shell_normalise"]

KINDS: Final = frozenset({ARG, ARG_NAME, COOKIE, COOKIE_NAME, XML})
INSPECTED_HEADERS: Final = frozenset({"user-agent", "referer"})

PROBE_COMMANDS: Final = (
    "id",
    "whoami",
    "uname",
    "pwd",
    "ifconfig",
    "ipconfig",
    "hostname",
    "systeminfo",
    "netstat",
    "tasklist",
    "ver",
    "env",
    "printenv",
    "set",
    "getuid",
    "groups",
    "ps",
    "top",
    "who",
    "w",
)
"""Commands an attacker runs without arguments to see whether injection works."""

COMMANDS: Final = (
    "cat",
    "cd",
    "tac",
    "ls",
    "dir",
    "wget",
    "curl",
    "nc",
    "ncat",
    "netcat",
    "socat",
    "telnet",
    "ftp",
    "tftp",
    "ssh",
    "scp",
    "rsync",
    "bash",
    "sh",
    "zsh",
    "ksh",
    "csh",
    "tcsh",
    "dash",
    "busybox",
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "php",
    "lua",
    "node",
    "ping",
    "nslookup",
    "dig",
    "host",
    "traceroute",
    "ip",
    "ss",
    "ps",
    "kill",
    "killall",
    "pkill",
    "rm",
    "rmdir",
    "chmod",
    "chown",
    "chgrp",
    "echo",
    "printf",
    "sleep",
    "base64",
    "xxd",
    "od",
    "hexdump",
    "awk",
    "gawk",
    "sed",
    "find",
    "grep",
    "egrep",
    "head",
    "tail",
    "more",
    "less",
    "export",
    "touch",
    "mkdir",
    "cp",
    "mv",
    "dd",
    "tar",
    "zip",
    "unzip",
    "gzip",
    "openssl",
    "sudo",
    "su",
    "passwd",
    "crontab",
    "systemctl",
    "service",
    "mkfifo",
    "mknod",
    "useradd",
    "usermod",
    "nohup",
    "setsid",
    "timeout",
    "eval",
    "exec",
    "source",
    "chattr",
    "lsof",
    "strace",
    "gcc",
    "xargs",
    "tee",
    "nmap",
    "cmd",
    "powershell",
    "pwsh",
    "certutil",
    "bitsadmin",
    "taskkill",
    "net",
    "netsh",
    "reg",
    "type",
    "del",
    "copy",
    "wmic",
    "rundll32",
    "regsvr32",
    "mshta",
    "cscript",
    "wscript",
    "schtasks",
    "findstr",
    "start",
    "whoami",
    "uname",
    "id",
    "iwr",
    "irm",
    "iwmi",
    "gwmi",
)
"""Commands that count after a separator when an argument follows."""

_SEPARATOR: Final = re.compile(r"[;|&\n\r`]|\$\(|<\(|>\(")
_NEXT_WORD: Final = re.compile(
    r"[\s({]{0,16}+(?:(?:/usr)?(?:/local)?/s?bin/)?([a-z][a-z0-9_-]{0,40}+)(?:\.exe)?"
)
_PROBE_END: Final = re.compile(r"\s{0,16}+(?:$|[;|&><`)}\n#])")
_ARGUMENT: Final = re.compile(
    r"\s{1,16}+(?:[-/~$.{(<>+]|\d|\w[\w-]{0,60}+\.\w|\w{1,60}+\s{0,16}+[;|&><`)])|"
    r"\s{0,16}+[;&><`)]|\s{0,16}+\|\s{0,16}+\w"
)
_PROBES: Final = frozenset(PROBE_COMMANDS)
_COMMANDS: Final = frozenset(COMMANDS)
MAX_SEPARATORS: Final = 256
"""Separators looked at per value; a value made of thousands of ``;`` stays cheap."""

_IDIOMS: Final = PatternSet(
    PatternRule(
        "cmdi.reverse-shell", "shell network redirection", r"/dev/(?:tcp|udp)/", ("/dev/",)
    ),
    PatternRule(
        "cmdi.shell",
        "shell or interpreter given a command",
        r"\b(?:ba|z|k|da|tc|c)?sh\s+-[a-z]*c\s|\bpython[23]?\s+-c\s|\bperl\s+-e\s|"
        r"\bruby\s+-e\s|\bphp\s+-r\s|\bnode\s+-e\s|\bn(?:c|cat|etcat)\s+(?:-[a-z]*[el]|"
        r"\S+\s+\d+\s+-e)|\bmkfifo\s+/|\b(?:wget|curl)\s+[^|;\n]{1,300}\|\s*(?:ba)?sh\b",
        ("sh", "python", "perl", "ruby", "php", "node", "nc", "mkfifo"),
    ),
    PatternRule(
        "cmdi.substitution",
        "shell command or process substitution",
        r"\$\(\s*[a-z_./][\w./-]{0,60}[^()]{0,200}\)|[<>]\(\s*[a-z_./][\w./-]{0,60}[^()]{0,200}\)",
        ("$(", "<(", ">("),
    ),
    PatternRule(
        "cmdi.binary-path",
        "absolute path of a system binary with arguments",
        r"(?:^|[\s;|&=(`])/(?:usr/)?(?:local/)?s?bin/[a-z][\w.+-]{0,40}(?:\s+\S|$)",
        ("bin/",),
    ),
    PatternRule(
        "cmdi.shell-syntax",
        "shell alias or here-string",
        r"\balias\s+[\w.-]{1,40}=\S|\S\s{0,4}<<<",
        ("alias", "<<<"),
    ),
    PatternRule("cmdi.ifs", "shell $IFS word splitting", r"\$\{?ifs\b", ("ifs",)),
    PatternRule(
        "cmdi.expansion",
        "shell arithmetic, parameter expansion or path globbing",
        r"\$\(\(|\$\[|\$\{[a-z_]\w*(?:[#%^,]|:[-=?+]|/)|/[\w.-]*\[[!^]?[\w/.-]{1,20}\][\w.-]*|"
        r"(?:/[\w*?]*[?*][\w*?]*){2}",
        ("$", "[", "?", "*"),
    ),
    PatternRule(
        "cmdi.protocol",
        "mail or remote protocol command after a line break",
        r"(?<![\r\n])[\r\n]++\s{0,16}+(?:mail\s+from\s*:|rcpt\s+to\s*:|ehlo\s|helo\s|apop\s|retr\s+\d|"
        r"a\d+\s+(?:append|login|select|fetch|uid)\s)",
        ("\n", "\r"),
    ),
    PatternRule(
        "cmdi.windows",
        "Windows command interpreter or PowerShell download",
        r"\bfor\s+(?:/[dflr]\s+){0,4}(?:\S{1,100}\s+){0,4}?%%?[^\s%]{0,30}\s+in\s*\(|"
        r"\bif\s+(?:/i\s+)?(?:not\s+)?(?:exist|defined|errorlevel)\s+\S|"
        r"^\s*(?:powershell|pwsh|cmd)(?:\.exe)?\s+(?:[-/]\w|[a-z]:\\)|"
        r"\bcmd(?:\.exe)?\s*/[ckr]\b|%comspec%|\bpowershell(?:\.exe)?\s+[-/](?:e|enc|"
        r"encodedcommand|c|command|nop|w|exec|ep)\b|\b(?:iex|invoke-expression|"
        r"invoke-webrequest|invoke-restmethod|start-process)\b|\.downloadstring\s*\(|"
        r"\bcertutil(?:\.exe)?\s+-urlcache|\bbitsadmin(?:\.exe)?\s+/transfer",
        (
            "for",
            "if",
            "powershell",
            "pwsh",
            "cmd",
            "%comspec%",
            "iex",
            "invoke-",
            "start-process",
            "downloadstring",
            "certutil",
            "bitsadmin",
        ),
    ),
)

_TRIGGER: Final = re.compile(
    r"[;|&\n\r`$%{\[?*<>]|/dev/|\bsh\b|-c\s|cmd|powershell|pwsh|iex|invoke|\bfor\s|\bif\s|"
    r"bin/|alias"
).search
_DROPPED: Final = str.maketrans("", "", "\\'\"^")
_EMPTY_EXPANSIONS: Final = re.compile(r"\$[@*!?#-]|\$\{\}|``")
_IFS: Final = re.compile(r"\$\{ifs\}|\$ifs\$\d|\$ifs\b")
_BRACES: Final = re.compile(r"\{([\w./-]+(?:,[^{},\s]+)+)\}")


def shell_normalise(value: str) -> str:
    """``value`` as a shell tokenises it, close enough to match commands in it."""
    text = value.lower()
    if "\\" in text or "'" in text or '"' in text or "^" in text:
        text = text.translate(_DROPPED)
    if "$" in text or "``" in text:
        text = _EMPTY_EXPANSIONS.sub("", text)
    if "$" in text and "ifs" in text:
        text = _IFS.sub(" ", text)
    if "{" in text and "," in text:
        text = _BRACES.sub(lambda m: " ".join(m.group(1).split(",")), text)
    return text


class CommandInjection:
    """Detects OS command injection in arguments, cookies, XML, User-Agent and Referer."""

    name = "cmdi"

    def __init__(self) -> None:
        self._memo = VerdictMemo()
        self._path_memo = VerdictMemo()

    def inspect(self, view: RequestView) -> list[Detection]:
        found: list[Detection] = []
        for item in view.suspects:
            if item.kind in KINDS and _TRIGGER(item.value.lower()):
                hit = (
                    self._path_memo.check(item, self._check)
                    if item.kind == PATH
                    else self._check(item)
                )
                if hit is not None:
                    found.append(hit)
        for item in view.header_inputs:
            if item.name in INSPECTED_HEADERS and _TRIGGER(item.value.lower()):
                hit = self._memo.check(item, self._check)
                if hit is not None:
                    found.append(hit)
        return found

    def _check(self, item: Input) -> Detection | None:
        for form in item.forms():
            text = shell_normalise(form)
            hit = self._separated(item, text)
            if hit is not None:
                return hit
            found = first_match(_IDIOMS, text)
            if found is not None:
                rule, match = found
                return detection(
                    self.name,
                    rule.rule_id,
                    rule.message,
                    item,
                    matched=snippet(text, match.start(), match.end() + 40),
                )
        return None

    def _separated(self, item: Input, text: str) -> Detection | None:
        """A separator, then a command: a probe alone, or any command with an argument."""
        for count, separator in enumerate(_SEPARATOR.finditer(text)):
            if count >= MAX_SEPARATORS:
                break
            word = _NEXT_WORD.match(text, separator.end())
            if word is None:
                continue
            command = word.group(1)
            if command in _PROBES and _PROBE_END.match(text, word.end()):
                rule_id, message = "cmdi.probe", "command separator and probe command"
            elif command in _COMMANDS and _ARGUMENT.match(text, word.end()):
                rule_id, message = "cmdi.command", "command separator and command with arguments"
            else:
                continue
            return detection(
                self.name,
                rule_id,
                message,
                item,
                matched=snippet(text, separator.start(), word.end() + 40),
            )
        return None
