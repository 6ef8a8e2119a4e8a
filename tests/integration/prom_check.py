#!/usr/bin/python3
"""prom_check.py -- a strict reader of the Prometheus text exposition format
(version 0.0.4), for `cgicache stats --prometheus`: every line a HELP, a
TYPE or a sample; names and label names as the format allows; label
values quoted with only \\\\, \\" and \\n escaped; a TYPE before its family's
samples and at most once; a family's samples together; no sample twice.
With --typed, also every family explained and typed (a HELP and a TYPE)
before its samples, as `cgicache stats --prometheus` writes them.
Exits 1 naming the first line that breaks a rule; else prints each sample
as "name{label=value,...} value", labels sorted, for the shell to read."""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def fail(n, line, why):
    print("line %d: %s: %r" % (n, why, line), file=sys.stderr)
    sys.exit(1)


def labels_of(text, n, line):
    """Reads {a="x",b="y"} from text[0] == "{"; returns (dict, rest)."""
    out, i = {}, 1
    while True:
        if text[i:i + 1] == "}":
            return out, text[i + 1:]
        m = LABEL.match(text, i)
        if not m:
            fail(n, line, "a label name")
        name, i = m.group(0), m.end()
        if text[i:i + 2] != '="':
            fail(n, line, 'label name not followed by ="')
        i += 2
        value = []
        while True:
            if i >= len(text):
                fail(n, line, "unterminated label value")
            c = text[i]
            if c == "\\":
                e = text[i + 1:i + 2]
                if e not in ('\\', '"', "n"):
                    fail(n, line, "bad escape in a label value")
                value.append("\n" if e == "n" else e)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                fail(n, line, "newline in a label value")
            else:
                value.append(c)
                i += 1
        if name in out:
            fail(n, line, "label given twice")
        out[name] = "".join(value)
        if text[i:i + 1] == ",":
            i += 1
        elif text[i:i + 1] != "}":
            fail(n, line, "labels not separated by a comma")


def main():
    typed, helped, seen, done, sampled = {}, set(), set(), set(), set()
    current = None
    text = sys.stdin.read()
    if text and not text.endswith("\n"):
        fail(0, text[-40:], "no newline at the end")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                family = parts[2]
                if not NAME.fullmatch(family):
                    fail(n, line, "a family name")
                if family in done:
                    fail(n, line, "a family's lines are not together")
                if parts[1] == "TYPE":
                    if family in typed or len(parts) != 4 or parts[3] not in TYPES:
                        fail(n, line, "TYPE twice or unknown")
                    if family in sampled:
                        fail(n, line, "TYPE after the family's samples")
                    typed[family] = parts[3]
                else:
                    if family in helped or len(parts) != 4:
                        fail(n, line, "HELP twice or empty")
                    helped.add(family)
                if current is not None and current != family:
                    done.add(current)
                current = family
            continue
        if line.strip() == "":
            fail(n, line, "an empty line")
        m = NAME.match(line)
        if not m:
            fail(n, line, "a metric name")
        name, rest = m.group(0), line[m.end():]
        labels = {}
        if rest.startswith("{"):
            labels, rest = labels_of(rest, n, line)
        fields = rest.split(" ")
        if len(fields) not in (2, 3) or fields[0] != "":
            fail(n, line, "one space, a value, maybe a timestamp")
        try:
            value = float(fields[1])
        except ValueError:
            fail(n, line, "a value")
        if math.isnan(value) and fields[1] != "NaN":
            fail(n, line, "a value")
        family = name
        if family != current:
            if current is not None:
                done.add(current)
            if family in done:
                fail(n, line, "a family's lines are not together")
            current = family
        if "--typed" in sys.argv[1:] and (family not in typed or family not in helped):
            fail(n, line, "a sample with no HELP or TYPE before it")
        if typed.get(family) == "counter" and (value < 0 or not name.endswith("_total")):
            fail(n, line, "a counter below zero, or not named _total")
        sampled.add(family)
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            fail(n, line, "the same sample twice")
        seen.add(key)
        print("%s{%s} %s" % (name, ",".join("%s=%s" % kv for kv in sorted(labels.items())), fields[1]))


main()
