#!/bin/bash
# run.sh [t_name ...] -- runs the integration tests (all t_*.sh by default),
# each in its own process with its own servers, and fails if any fails.
# CC_LIB picks the library under test (the sanitized build for `make test`'s
# second pass); with it, sanitizer reports from any app fail the run.
# A relative CC_LIB names a file from where the caller stands: made absolute
# before the cd, or every preload would miss it (and silently test nothing).
case "${CC_LIB:-}" in
"") ;;
/*) ;;
*) CC_LIB=$PWD/$CC_LIB ;;
esac
cd "$(dirname "$0")" || exit 1
export CC_LIB=${CC_LIB:-$(cd ../.. && pwd)/build/libcgicache.so}
if [ ! -f "$CC_LIB" ]; then
    echo "run.sh: no library at $CC_LIB (run make first)" >&2
    exit 1
fi
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(t_*.sh)
failed=()
asan_dir=$(mktemp -d /tmp/cgicache-asan.XXXXXX)
# Writable by apps that drop privileges (php-fpm's pools run as nobody):
# a report they could not write would be lost.
chmod 1777 "$asan_dir"
case "$CC_LIB" in
*asan*) export ASAN_OPTIONS="detect_leaks=0:log_path=$asan_dir/asan:abort_on_error=0"
        export UBSAN_OPTIONS="print_stacktrace=1:log_path=$asan_dir/ubsan" ;;
*tsan*) export TSAN_OPTIONS="log_path=$asan_dir/tsan:second_deadlock_stack=1" ;;
esac
for t in "${tests[@]}"; do
    echo "# $t ($(basename "$CC_LIB"))"
    start=$(date +%s)
    if ! timeout 300 bash "$t"; then
        failed+=("$t")
    fi
    echo "# $t took $(( $(date +%s) - start ))s"
done
reports=$(ls "$asan_dir" 2>/dev/null)
if [ -n "$reports" ]; then
    echo "# sanitizer reports:"
    cat "$asan_dir"/* | head -100
    failed+=("sanitizers")
fi
rm -rf "$asan_dir"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all integration tests passed"
