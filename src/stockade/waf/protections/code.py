"""Code injection: PHP, JavaScript (Node.js), Python, Java and template payloads.

Looks for what only code does: PHP open tags, calls of PHP's dangerous functions,
superglobals, stream wrappers and serialised objects; Node's ``child_process`` and
constructor chains; Python's dunder walks and ``__import__``; Java's ``Runtime.exec``,
JNDI lookups (Log4Shell) and expression-language evaluation; and template expressions
that compute (``{{7*7}}``, ``${7*7}``).
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
    FILE_NAME,
    PATH,
    XML,
    Input,
    RequestView,
)
from stockade.waf.protections.xss import strip_block_comments

__all__ = ["CodeInjection"]

KINDS: Final = frozenset({ARG, ARG_NAME, COOKIE, COOKIE_NAME, XML, FILE_NAME, PATH})
SKIPPED_HEADERS: Final = frozenset(
    {"host", "content-length", "connection", "accept-encoding", "accept", "accept-language"}
)

PHP_FUNCTIONS: Final = (
    "eval",
    "assert",
    "system",
    "exec",
    "shell_exec",
    "passthru",
    "popen",
    "proc_open",
    "pcntl_exec",
    "phpinfo",
    "base64_decode",
    "gzinflate",
    "gzuncompress",
    "gzdecode",
    "str_rot13",
    "convert_uudecode",
    "file_get_contents",
    "file_put_contents",
    "fopen",
    "fwrite",
    "readfile",
    "highlight_file",
    "show_source",
    "include",
    "include_once",
    "require",
    "require_once",
    "create_function",
    "call_user_func",
    "call_user_func_array",
    "array_map",
    "array_filter",
    "usort",
    "preg_replace",
    "unserialize",
    "move_uploaded_file",
    "fsockopen",
    "pfsockopen",
    "curl_exec",
    "ini_set",
    "ini_get",
    "putenv",
    "getenv",
    "posix_getpwuid",
    "posix_kill",
    "symlink",
    "chmod",
    "unlink",
    "rmdir",
    "mkdir",
    "scandir",
    "glob",
    "get_defined_vars",
    "var_dump",
    "print_r",
    "serialize",
    "extract",
    "parse_str",
)

_PATTERNS: Final = PatternSet(
    PatternRule(
        "code.php-tag",
        "PHP open tag",
        r"<\?(?:php\b|=\s*[$\w`(])",
        ("<?",),
    ),
    PatternRule(
        "code.php-variable",
        "PHP superglobal or variable function",
        r"\$_(?:get|post|cookie|request|server|files|env|session)\b|\$globals\b|"
        r"\$\{?\s*['\"]?\w+['\"]?\s*\}?\s*\(\s*\$|\$\w+\s*=\s*['\"]\w+['\"]\s*;\s*\$\w+\s*\(|"
        r"\$[a-z_]\w*\s*(?:\[[^\]\[]{0,40}\]\s*){0,4}\(",
        ("$",),
    ),
    PatternRule(
        "code.php-function",
        "call of a dangerous PHP function through a parenthesised name",
        r"\(\s*['\"]?\s*(?:system|exec|passthru|shell_exec|assert|eval|popen)\s*['\"]?\s*\)\s*\(",
        (")(", ") ("),
    ),
    PatternRule(
        "code.php-wrapper",
        "PHP stream wrapper",
        r"\b(?:php|phar|zip|zlib|compress\.zlib|compress\.bzip2|glob|expect|ogg|rar|"
        r"ssh2(?:\.\w+)?|data)://",
        ("://",),
    ),
    PatternRule(
        "code.php-object",
        "serialised PHP object",
        r"\b[oc]:\+?\d+:\"[\w\\]+\":\d+:\{",
        (':"',),
    ),
    PatternRule(
        "code.node",
        "Node.js process or module access",
        r"\bchild_process\b|\brequire\s*\(\s*['\"`](?:child_process|fs|net|os|vm|"
        r"http)['\"`]\s*\)|\bprocess\s*\.\s*(?:mainmodule|binding|kill|dlopen|env\b|"
        r"exit\s*\()|\bconstructor\s*(?:\.\s*constructor|\[\s*['\"`]constructor)|"
        r"\.__proto__\b|\[\s*['\"`]__proto__['\"`]\s*\]|\bglobal\s*\.\s*process\b|"
        r"\bnew\s+function\s*\(|\bfunction\s*\(\s*\)\s*\{[^}]{0,200}\breturn\s+process\b|"
        r"\bprocess\s*\[\s*['\"`]?\s*(?:mainmodule|binding|env)",
        ("child_process", "require", "process", "constructor", "__proto__", "function"),
    ),
    PatternRule(
        "code.eval",
        "dynamic code evaluation",
        r"\b(?:eval|execscript|settimeout|setinterval)\s*\(\s*(?:['\"`]|atob|"
        r"string\.fromcharcode|unescape|decodeuri|buffer\.from|\w+\s*\()",
        ("eval", "execscript", "settimeout", "setinterval"),
    ),
    PatternRule(
        "code.python",
        "Python code execution or object walk",
        r"\b__import__\s*\(|\b__(?:builtins|globals|subclasses|mro|bases|class|code|"
        r"getattribute|reduce|init)__\b|\bos\s*\.\s*(?:system|popen|exec\w*|spawn\w*)\s*\(|"
        r"\bsubprocess\s*\.\s*(?:call|run|popen|check_output|check_call|getoutput)\b|"
        r"\bpickle\s*\.\s*loads?\s*\(|\bcommands\s*\.\s*getoutput\b|\bimportlib\b",
        (
            "__",
            "system",
            "popen",
            "exec",
            "spawn",
            "subprocess",
            "pickle",
            "getoutput",
            "importlib",
        ),
    ),
    PatternRule(
        "code.template",
        "server-side template expression",
        r"\{\{[^{}]{0,200}(?:\d\s*[*+/-]\s*\d|\b(?:config|self|request|lipsum|cycler|joiner|"
        r"namespace|url_for|get_flashed_messages|range|dict|class|mro)\b|__|\|\s*attr\b|"
        r"\[\s*['\"])[^{}]{0,200}\}\}|\{%\s*(?:import|include|set|for|if|raw|debug)\b|"
        r"[#$]\{[^{}]{0,200}(?:\d\s*[*+/-]\s*\d|\bt\s*\(|\bnew\s|getclass|class\.|"
        r"\.forname|getruntime|\bexec\s*\()[^{}]{0,200}\}|"
        r"<%=?[^%]{0,200}(?:\d\s*[*+/-]\s*\d|\b(?:system|exec|eval|runtime|popen|spawn|"
        r"open|file|io|class|request)\b|`)[^%]{0,200}%>|"
        r"\$\{\{[^}]{0,200}\}\}|\{php\}|\{\$smarty\b",
        ("{{", "{%", "${", "#{", "<%", "{php}", "{$smarty"),
    ),
    PatternRule(
        "code.perl",
        "Perl code interpolation",
        r"@\{\s*\[[^\]]{0,200}\b(?:system|exec|open|qx|eval|require|do)\b|\bcore::\w",
        ("@{", "core::"),
    ),
    PatternRule(
        "code.java",
        "Java runtime, reflection or JNDI lookup",
        r"\$\{\s*(?:jndi|\$\{|[\w:-]*:[\w:-]*-j\}|(?:lower|upper|env|sys|java|date|main|ctx|"
        r"bundle|spring|k8s|docker|log4j|base64|event|marker|map|sd|web)\s*:)|"
        r"\bjndi\s*:\s*(?:ldaps?|rmi|dns|iiop|corba|nds|nis|http)\b|"
        r"\bjava\s*\.\s*lang\s*\.\s*(?:runtime|processbuilder|system|class|reflect|"
        r"classloader|thread)\b|\.getruntime\s*\(\s*\)|\bprocessbuilder\s*\(|"
        r"\.getclass\s*\(\s*\)\s*\.\s*(?:forname|getclassloader|getmethod)|"
        r"\bclass\s*\.\s*forname\s*\(|@java\.lang\.|\bjavax?\.script\.scriptengine",
        ("${", "jndi", "java", "runtime", "processbuilder", "getclass", "forname", "scriptengine"),
    ),
)
_PHP_FUNCTIONS: Final = frozenset(PHP_FUNCTIONS)
_CALL_ARGUMENT: Final = re.compile(r"\(\s*(?:[$'\"`(\[)]|\w+\s*\(|\w+\s*[,)])")
_SPACED_CALL_ARGUMENT: Final = re.compile(r"\(\s*[$'\"`]")
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_NOT_BEFORE: Final = frozenset("$>.:-")
MAX_CALLS: Final = 256


def _dangerous_call(text: str) -> int | None:
    """Where a call of a dangerous PHP function starts in ``text`` (lower-case), if any.

    Walks the ``(`` of the value and reads the name before each, which is much cheaper
    than a regex alternation of every name tried at every position."""
    position = text.find("(")
    seen = 0
    while position >= 0 and seen < MAX_CALLS:
        seen += 1
        end = position
        spaced = False
        while end > 0 and text[end - 1] in " \t\r\n":
            end -= 1
            spaced = True
        if end > 0 and text[end - 1] in "'\"":
            end -= 1
        start = end
        while start > 0 and text[start - 1] in _NAME_CHARS:
            start -= 1
        if (
            start < end
            and text[start:end] in _PHP_FUNCTIONS
            and (start == 0 or text[start - 1] not in _NOT_BEFORE)
        ):
            argument = _SPACED_CALL_ARGUMENT if spaced else _CALL_ARGUMENT
            if argument.match(text, position):
                return start
        position = text.find("(", position + 1)
    return None


_HINT: Final = re.compile(r"[<$({}%\[@]|__|:/|java|process|importlib|\.ph").search
_UPLOAD_HEADERS: Final = frozenset({"x-file-name", "x-filename", "x_filename", "x-file"})
_PHP_FILE: Final = re.compile(r"\.(?:php\d?|phtml|phar|pht|phps|pgif|shtml|htaccess)(?:\.|$|\s|;)")


class CodeInjection:
    """Detects code injection in arguments, cookies, XML, file names and headers."""

    name = "code"

    def __init__(self) -> None:
        self._memo = VerdictMemo()
        self._path_memo = VerdictMemo()

    def inspect(self, view: RequestView) -> list[Detection]:
        found: list[Detection] = []
        for item in view.suspects:
            if item.kind in KINDS and _HINT(item.value):
                hit = (
                    self._path_memo.check(item, self._check)
                    if item.kind == PATH
                    else self._check(item)
                )
                if hit is not None:
                    found.append(hit)
        for item in view.suspects:
            if item.kind == FILE_NAME:
                upload = self._upload(item)
                if upload is not None:
                    found.append(upload)
        for item in view.header_inputs:
            if item.name in _UPLOAD_HEADERS:
                upload = self._upload(item)
                if upload is not None:
                    found.append(upload)
            if item.name not in SKIPPED_HEADERS and _HINT(item.value):
                hit = self._memo.check(item, self._check)
                if hit is not None:
                    found.append(hit)
        return found

    def _upload(self, item: Input) -> Detection | None:
        match = _PHP_FILE.search(item.normalised().lower())
        if match is None:
            return None
        return detection(
            self.name,
            "code.php-upload",
            "upload of a server-side script",
            item,
            matched=snippet(item.value),
        )

    def _check(self, item: Input) -> Detection | None:
        for form in item.forms():
            lowered = form.lower()
            if "/*" in lowered:
                lowered = strip_block_comments(lowered)
            if "(" in lowered:
                call = _dangerous_call(lowered)
                if call is not None:
                    return detection(
                        self.name,
                        "code.php-function",
                        "call of a dangerous PHP function",
                        item,
                        matched=snippet(lowered, call, call + 60),
                    )
            found = first_match(_PATTERNS, lowered)
            if found is not None:
                rule, match = found
                return detection(
                    self.name,
                    rule.rule_id,
                    rule.message,
                    item,
                    matched=snippet(lowered, match.start(), match.end() + 20),
                )
        return None
