#!/bin/bash
# t_json.sh -- every --json output of every command (check, inspect, purge,
# stats, probe) is one strict JSON document, whatever bytes reach it: URLs,
# paths, hosts and header values with quotes, backslashes, control bytes
# (raw and %-escaped) and bytes that are not UTF-8, very long values, bad
# route names and variables, program paths, entries whose stored head
# carries odd bytes, and an app whose head is hostile outright
# (hostile_fcgi.py).  Strict: python3 -m json.tool reading its input as
# UTF-8 with errors fatal, then no NaN or Infinity, no lone surrogate,
# nothing after the document.
. "$(dirname "$0")/lib.sh"

cat >"$TMP/strict.py" <<'PY'
import json, sys
text = sys.stdin.buffer.read().decode("utf-8")      # strict: a bad byte fails
def constant(name):
    raise ValueError("not JSON: " + name)
def walk(v):
    if isinstance(v, str):
        v.encode("utf-8")                           # a lone \ud8xx fails
    elif isinstance(v, list):
        for x in v: walk(x)
    elif isinstance(v, dict):
        for k, x in v.items(): walk(k); walk(x)
walk(json.loads(text, parse_constant=constant))
PY

# json_doc NAME COMMAND...: runs COMMAND (its stdout in $TMP/out.json, its
# exit status in $rc) and passes when that stdout is one strict JSON document.
json_doc() {
    local name=$1
    shift
    "$@" >"$TMP/out.json" 2>"$TMP/err"
    rc=$?
    if PYTHONIOENCODING=utf-8:strict python3 -m json.tool <"$TMP/out.json" >/dev/null 2>"$TMP/why" &&
        python3 "$TMP/strict.py" <"$TMP/out.json" 2>"$TMP/why"; then
        ok "$name: strict JSON"
    else
        not_ok "$name: not strict JSON: $(tail -1 "$TMP/why"): $(head -c 300 "$TMP/out.json" | cat -v)"
    fi
}

# field PYTHON-EXPRESSION: a value of the last document, as j (Python);
# odd is what $ODD reads as: each byte that is not UTF-8 is U+FFFD.
cat >"$TMP/field.py" <<'PY'
import json, sys
j = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
odd = 'q"b\\s\x01\x1f\x7f' + "\ufffd" * 3 + "(" + "\ufffd" * 7
print(eval(sys.argv[2]))
PY
field() { python3 "$TMP/field.py" "$TMP/out.json" "$@" 2>/dev/null; }

ODD=$'q"b\\s\x01\x1f\x7f\xff\xfe\xc3(\xed\xa0\x80\xf4\x90\x80\x80'   # quote, backslash, controls, bad UTF-8
LONG=$(head -c 60000 /dev/zero | tr '\0' 'x')

start_redis
export CGICACHE_REDIS=$REDIS_URL CGICACHE_ROUTE_pages='GET /pages/* ttl=60 vary=Accept-Language' \
    CGICACHE_ROUTE_all='GET /* ttl=60'
start_app app 1 "$TESTAPP"

# check: problems naming odd variables and values, odd program paths.
json_doc "check" "$CC_TOOL" check --json
expect_eq "check: exit 0" "$rc" 0
json_doc "check: a bad route name" env "CGICACHE_ROUTE_$ODD=GET /x ttl=1" "$CC_TOOL" check --json
expect_eq "check: the bad route name is named" "$(field 'j["problems"][0]["variable"] == "CGICACHE_ROUTE_" + odd')" True
json_doc "check: an unknown variable" env "CGICACHE_$ODD=1" "$CC_TOOL" check --json
json_doc "check: a bad value" env "CGICACHE_TTL=$ODD" "CGICACHE_ROUTE_v=GET /$ODD ttl=$ODD vary=$ODD" "$CC_TOOL" check --json
json_doc "check: a long route spec" env "CGICACHE_ROUTE_long=GET /$LONG ttl=1" "$CC_TOOL" check --json
json_doc "check: a long variable name" env "CGICACHE_$LONG=1" "$CC_TOOL" check --json
printf 'CGICACHE_ROUTE_%s=GET /x ttl=1\nCGICACHE_TTL=%s\n%s\n' "$ODD" "$ODD" "$ODD" >"$TMP/odd.conf"
json_doc "check: an odd CGICACHE_CONFIG" env CGICACHE_CONFIG="$TMP/odd.conf" "$CC_TOOL" check --json
json_doc "check: a missing program with an odd name" "$CC_TOOL" check --json -- "$TMP/$ODD"
expect_eq "check: the program path, each byte that is not UTF-8 as U+FFFD" \
    "$(field 'j["program"]["path"] == sys.argv[3] + "/" + odd' "$TMP")" True
printf '#!/bin/sh\necho\n' >"$TMP/$ODD"
chmod +x "$TMP/$ODD"
json_doc "check: a script with an odd name" "$CC_TOOL" check --json "$TMP/$ODD"
printf '#!%s/%s\n' "$TMP" "$ODD$ODD" >"$TMP/odd-interp"
chmod +x "$TMP/odd-interp"
json_doc "check: a script whose interpreter has an odd name" "$CC_TOOL" check --json "$TMP/odd-interp"
json_doc "check: a long program name" "$CC_TOOL" check --json -- "/$LONG"
json_doc "check: Redis unreachable" env CGICACHE_REDIS=redis://127.0.0.1:1/0 "$CC_TOOL" check --json
expect_eq "check: Redis unreachable says so" "$(field 'j["redis_reachable"]')" False

# Entries to inspect, probe and purge: odd paths, queries, hosts and vary
# values in their keys, odd bytes in a stored head (cc=, pragma= and
# tags= write them), a request header reflected into a body (echo=).
fill() { fcgi app GET "$@" >/dev/null; fcgi app GET "$@" >/dev/null; }
QUOTED='/pages/a"b?x="y"&echo=HTTP_X_ODD'
ODD_HEAD='/pages/head?cc=max-age%3D60%2C%22%5c%01%1f%ff%fe&pragma=%22%5c%7f%ff&tags=%22%5c%01%ff,b'
fill "$QUOTED" HTTP_X_ODD="$ODD" HTTP_ACCEPT_LANGUAGE="$ODD"
fill "$ODD_HEAD"
fill "/pages/q?q=$ODD&r=%00%01%1f%22%5c%ff%fe"
fill "/pages/$ODD"
fill '/pages/%00%01%1f%22%5c%ff%fe'
fill "/$ODD"
fill "/pages/$LONG"
fill "/pages/long?q=$LONG" HTTP_ACCEPT_LANGUAGE="$LONG"

# inspect: the key of every odd URL, with and without an entry.
for path in "$QUOTED" "$ODD_HEAD" "/pages/q?q=$ODD&r=%00%01%1f%22%5c%ff%fe" "/pages/$ODD" \
            '/pages/%00%01%1f%22%5c%ff%fe' "/$ODD" "/pages/$LONG" "/pages/long?q=$LONG" "/elsewhere\"?$ODD"; do
    name=$(printf '%.50s' "$path" | cat -v)
    json_doc "inspect $name" "$CC_TOOL" inspect "http://localhost$path" --json
    json_doc "inspect -H $name" "$CC_TOOL" inspect "http://localhost$path" --json -H "Accept-Language: $ODD"
done
json_doc "inspect: an odd host" "$CC_TOOL" inspect "http://$ODD/pages/1" --json -H "Accept-Language: $ODD"
json_doc "inspect: an odd port" "$CC_TOOL" inspect 'http://localhost:8"0/pages/1' --json
json_doc "inspect: an odd method" "$CC_TOOL" inspect "http://localhost/pages/1" -X "G$ODD" --json
json_doc "inspect: a long header" "$CC_TOOL" inspect "http://localhost/pages/long?q=$LONG" -H "Accept-Language: $LONG" --json
json_doc "inspect: a quote in the path" "$CC_TOOL" inspect "http://localhost$QUOTED" -H "Accept-Language: $ODD" --json
expect_eq "inspect: the entry is found" "$rc" 0
expect_eq "inspect: the key keeps its quotes and backslash" \
    "$(field '"/pages/a\"b?echo=HTTP_X_ODD&x=\"y\"|accept-language=q\"b\\s" in j["key"]')" True
json_doc "inspect: a stored head with odd bytes" "$CC_TOOL" inspect "http://localhost$ODD_HEAD" --json
expect_eq "inspect: that entry is found" "$(field 'j["entry"]["state"]')" fresh
json_doc "inspect: Redis unreachable" env CGICACHE_REDIS=redis://127.0.0.1:1/0 "$CC_TOOL" inspect \
    "http://localhost$QUOTED" --json

# probe: the app's answers (a HIT is the stored head), with odd requests.
for path in "$QUOTED" "$ODD_HEAD" "/pages/q?q=$ODD&r=%00%01%1f%22%5c%ff%fe" "/pages/$ODD" "/$ODD" \
            "/pages/$LONG" "/?status=299%20%22%ff%01&location=%22%5c%01%ff"; do
    name=$(printf '%.50s' "$path" | cat -v)
    json_doc "probe $name" "$CC_TOOL" probe "$TMP/app.sock" "http://localhost$path" \
        -H "Accept-Language: $ODD" -H "X-Odd: $ODD" --json
    json_doc "probe --bypass $name" "$CC_TOOL" probe "$TMP/app.sock" "http://localhost$path" -H "X-Odd: $ODD" \
        --bypass --json
    json_doc "probe --compare $name" "$CC_TOOL" probe "$TMP/app.sock" "http://localhost$path" --compare --json
done
json_doc "probe: a stored head with odd bytes" "$CC_TOOL" probe "$TMP/app.sock" "http://localhost$ODD_HEAD" --json
expect_eq "probe: served from the entry" "$(field 'j["cache"]')" HIT
expect_eq "probe: the stored Pragma, escaped and read back" "$(field 'j["headers"]["Pragma"] == "\"\\\x7f\ufffd"')" True
json_doc "probe: a long header value" "$CC_TOOL" probe "$TMP/app.sock" "http://localhost/pages/1?echo=HTTP_X_LONG" \
    -H "X-Long: $LONG" --json

# An app whose head is hostile outright: odd values everywhere, its own
# cache status header; a head too long to parse; no head at all.
python3 "$TOP/tests/integration/hostile_fcgi.py" "$TMP/hostile.sock" "$TMP/answer" 2>>"$TMP/hostile.log" &
PIDS+=("$!"); disown "$!" 2>/dev/null
wait_for can_connect "$TMP/hostile.sock"
printf 'Status: 203 %s\r\nContent-Type: text/plain\r\nX-Cache-Status: %s\r\nX-Odd: %s\r\nX-Odd: %s%s\r\n\r\nbody %s' \
    "$ODD" "$ODD" "$ODD" "$ODD" "$ODD" "$ODD" >"$TMP/answer"
json_doc "probe: a hostile head" "$CC_TOOL" probe "$TMP/hostile.sock" http://localhost/ --json
expect_eq "probe: its status" "$(field 'j["status"]')" 203
expect_eq "probe: its cache status, escaped and read back" "$(field 'j["cache"] == odd')" True
expect_eq "probe: every odd value, read back" "$(field 'j["headers"]["X-Odd"] == odd + odd')" True
json_doc "probe --compare: a hostile head" "$CC_TOOL" probe "$TMP/hostile.sock" http://localhost/ --compare --json
printf 'X-Long: %s%s\r\n\r\n' "$LONG" "$LONG" >"$TMP/answer"
json_doc "probe: a head too long" "$CC_TOOL" probe "$TMP/hostile.sock" http://localhost/ --json
printf '%s' "$ODD" >"$TMP/answer"
json_doc "probe: no head at all" "$CC_TOOL" probe "$TMP/hostile.sock" http://localhost/ --json

# stats: after all that traffic, and --reset.
json_doc "stats" "$CC_TOOL" stats --json
expect_eq "stats: both routes, and Redis's counters" "$(field 'sorted(r["route"] for r in j)')" "['#redis', 'all', 'pages']"
json_doc "stats --reset" "$CC_TOOL" stats --reset --json
expect_eq "stats --reset: both routes" "$rc $(field 'j["ok"], j["reset"]')" "0 (True, 2)"

# purge: odd URLs and tags, then everything.
json_doc "purge --url odd" "$CC_TOOL" purge --url "http://localhost/pages/$ODD" --json
json_doc "purge --url quote" "$CC_TOOL" purge --url 'http://localhost/pages/a"b\c' --json
json_doc "purge --url long" "$CC_TOOL" purge --url "http://localhost/pages/$LONG" --json
json_doc "purge --url unrouted" "$CC_TOOL" purge --url "http://$ODD/" --json
json_doc "purge --tag odd" "$CC_TOOL" purge --tag "$ODD" --json
json_doc "purge --tag of the odd head" "$CC_TOOL" purge --tag $'"\\\x01\xff' --json
expect_eq "purge --tag of the odd head: its entries" "$(field 'j["removed"] >= 1')" True
json_doc "purge --route" "$CC_TOOL" purge --route pages --json
json_doc "purge --all" "$CC_TOOL" purge --all --json
expect_eq "purge --all: ok" "$(field 'j["ok"]')" True
finish
