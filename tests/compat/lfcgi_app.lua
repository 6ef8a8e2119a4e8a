-- lfcgi_app.lua -- a FastCGI app written against Lua's lfcgi binding
-- (Debian's lua-wsapi-fcgi), the way wsapi.fcgi drives it: lfcgi.accept()
-- per request, the response on lfcgi.stdout.  Each request it computes
-- is appended to $LUA_RUNS, so a test can tell a HIT from a run.
local lfcgi = require "lfcgi"
local runs = os.getenv("LUA_RUNS")
while lfcgi.accept() >= 0 do
    local uri = lfcgi.getenv("REQUEST_URI") or "?"
    if runs then
        local f = io.open(runs, "a")
        f:write(uri, "\n")
        f:close()
    end
    lfcgi.stdout:write("Content-Type: text/plain\r\nX-App: lua\r\n\r\n")
    lfcgi.stdout:write("lua ", _VERSION, " pid ", tostring(lfcgi.getenv("REMOTE_PORT")), " ", uri, "\n")
    for i = 1, 200 do lfcgi.stdout:write(i, "\n") end
end
