#!/bin/sh
# stack_check.sh LIMIT FILE.su... -- fails when any function's stack frame,
# as gcc's -fstack-usage reports it, is over LIMIT bytes, or is unbounded.
#
# The library runs on the app's threads, whose stacks may be small (64 KiB
# is not rare in threaded FastCGI apps); a hit used to take 78 KiB of them.
# Every buffer bigger than a few KiB belongs on the heap, allocated once.
limit=$1
shift
awk -F'\t' -v limit="$limit" '
    $2 + 0 > limit { printf "%s: %d bytes of stack (limit %d)\n", $1, $2, limit; bad = 1 }
    $3 ~ /dynamic/ && $3 !~ /bounded/ { printf "%s: unbounded stack (%s)\n", $1, $3; bad = 1 }
    END { exit bad }' "$@" || { echo "stack_check: frames over the limit; see above" >&2; exit 1; }
