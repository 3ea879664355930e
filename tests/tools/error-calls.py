#!/usr/bin/env python3
# The error constructors' calls in C sources, with their format argument:
#   error-calls.py check FILE...   lists calls whose format is _("…")
#                                  and log calls that show ->message
#   error-calls.py fix FILE...     turns such a _("…") format into N_("…")
# Log values are never translated: lottery_fail () and its kind take the
# msgid and translate it themselves (src/common/lottery-error.c).
import re
import sys

# Constructor -> index of its format argument.
FORMAT_ARG = {
    "lottery_fail": 2, "lottery_store_fail": 2, "lottery_config_fail": 2,
    "lottery_bets_file_fail": 2, "lottery_error_set": 3,
    "lottery_fail_valist": 3, "lottery_fail_wrap": 4,
    "lottery_fail_errno": 4, "lottery_error_prefix": 1,
    # Local wrappers that pass their format on to lottery_fail_valist ().
    "scan_fail": 3, "split_fail": 1, "fail_errno": 2,
    "lottery_journal_fail_errno": 2,
}
PUBLIC = ("lottery_fail", "lottery_store_fail", "lottery_config_fail",
          "lottery_bets_file_fail", "lottery_error_set",
          "lottery_fail_wrap", "lottery_fail_errno", "lottery_error_prefix")
# Our extended-error domains, which keep the C text.
OUR_DOMAINS = ("LOTTERY_ERROR", "LOTTERY_STORE_ERROR", "LOTTERY_CONFIG_ERROR",
               "LOTTERY_BETS_FILE_ERROR")
# GLib's constructors: no C text kept. (Name -> index of the domain.)
GLIB_NEW = {"g_set_error": 1, "g_set_error_literal": 1, "g_error_new": 0,
            "g_error_new_literal": 0, "g_error_new_valist": 0}
CALL = re.compile(r"\b(" + "|".join(FORMAT_ARG) + "|" + "|".join(GLIB_NEW) +
                  r"|lottery_log|"
                  r"lottery_log_full|g_prefix_error|"
                  r"g_propagate_prefixed_error)\s*\(")


def split_args(text, start):
    """Arguments of the call whose '(' is at text[start - 1]: a list of
    (begin, end) offsets, and the offset after the ')'."""
    depth, i, begin, args = 0, start, start, []
    while i < len(text):
        c = text[i]
        if c == '"' or c == "'":
            j = i + 1
            while text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 1
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append((begin, i))
                return args, i + 1
            depth -= 1
        elif c == "," and depth == 0:
            args.append((begin, i))
            begin = i + 1
        i += 1
    return args, len(text)


def scan(path, fix):
    text = open(path, encoding="utf-8").read()
    problems, edits = [], []
    for m in CALL.finditer(text):
        name = m.group(1)
        if text.rfind("/*", 0, m.start()) > text.rfind("*/", 0, m.start()):
            continue  # in a comment
        # Not the declaration or definition of the function itself.
        before = text[:m.start()].rstrip()
        if before.endswith(("*", "gboolean", "void", "define")) or \
                text[:m.start()].endswith("\n"):
            line_start = text.rfind("\n", 0, m.start()) + 1
            if text[line_start:m.start()].strip() == "" and \
                    text[m.end():].lstrip().startswith(("GError", "const")):
                continue
        args, _ = split_args(text, m.end())
        line = text.count("\n", 0, m.start()) + 1
        if name in ("g_prefix_error", "g_propagate_prefixed_error"):
            problems.append((line, name + " () loses the C text: use "
                             "lottery_error_prefix () or lottery_fail_wrap ()"))
            continue
        if name in GLIB_NEW:
            call = text[m.start():args[-1][1] if args else m.end()]
            domain = text[args[GLIB_NEW[name]][0]:
                          args[GLIB_NEW[name]][1]].strip()
            if domain in OUR_DOMAINS or \
                    re.search(r"\b_\s*\(", call):
                problems.append((line, name + " () keeps no C text: use "
                                 "lottery_error_set () with N_()"))
            continue
        if name in ("lottery_log", "lottery_log_full"):
            call = text[m.start():args[-1][1] if args else m.end()]
            if re.search(r"->message\b", call):
                problems.append((line, name + " () shows ->message: use "
                                 "lottery_log_error_value ()"))
            continue
        index = FORMAT_ARG[name]
        if index >= len(args):
            continue
        if name in PUBLIC and any(re.search(r"->message\b|g_strerror", text[b:e])
               for b, e in args[index + 1:]):
            problems.append((line, name + " () formats a translated "
                             "message: use lottery_fail_wrap () or "
                             "lottery_fail_errno ()"))
        begin, end = args[index]
        arg = text[begin:end]
        stripped = arg.lstrip()
        if re.match(r"_\s*\(", stripped):
            at = begin + (len(arg) - len(stripped))
            problems.append((line, name + " () with a _() format: pass "
                             "N_(), the msgid"))
            edits.append(at)
    for m in re.finditer(r"lottery_log_value\s*\(([^;]*?->message)\b", text):
        line = text.count("\n", 0, m.start()) + 1
        problems.append((line, "lottery_log_value () of ->message: use "
                         "lottery_log_error_value ()"))
    if fix and edits:
        for at in sorted(edits, reverse=True):
            text = text[:at] + "N" + text[at:]
        open(path, "w", encoding="utf-8").write(text)
    return problems


def main():
    mode, paths = sys.argv[1], sys.argv[2:]
    bad = 0
    for path in paths:
        for line, what in scan(path, mode == "fix"):
            print("%s:%d: %s" % (path, line, what))
            bad += 1
    return 1 if bad and mode == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
