<?php
// index.php -- the PHP app of tests/integration/t_php.sh: one front
// controller answering every URL, as most PHP apps have, its behaviour
// chosen by query flags (like tests/apps/testapp.c).  Every run appends
// "METHOD URI pid" to runs.log beside it when it starts, so the test counts
// PHP's runs, and "done URI pid RUN" when it ends, RUN being the value
// its body carries as run=.
//
//   sleep_ms=N   sleep before answering
//   status=N     the response status
//   cookie=1     set a cookie
//   tags=a,b     X-Cache-Tags: a,b
//   cc=V         Cache-Control: V
//   env=NAME     print the worker's getenv(NAME)
//   warn=1       a warning, which PHP logs to the web server (FCGI_STDERR)
//   fatal=1      a fatal error (a 500)
//   flush=1      flush() between two parts of the body
//   hang_ms=N    once the body so far is sent, hang N ms (to be killed)
//   size=N       N more bytes of body
//   finish=1     fastcgi_finish_request(), then go on for 300 ms
// Sends what PHP holds (php.ini's output_buffering keeps up to 4 kB).
function send_now()
{
    while (ob_get_level() > 0) {
        ob_end_flush();
    }
    flush();
}

$uri = $_SERVER['REQUEST_URI'] ?? '';
$method = $_SERVER['REQUEST_METHOD'] ?? '';
$log = __DIR__ . '/runs.log';
file_put_contents($log, "$method $uri " . getmypid() . "\n", FILE_APPEND | LOCK_EX);
if (isset($_GET['sleep_ms'])) {
    usleep((int)$_GET['sleep_ms'] * 1000);
}
if (isset($_GET['status'])) {
    http_response_code((int)$_GET['status']);
}
if (isset($_GET['cookie'])) {
    setcookie('session', bin2hex(random_bytes(8)));
}
if (isset($_GET['tags'])) {
    header('X-Cache-Tags: ' . $_GET['tags']);
}
if (isset($_GET['cc'])) {
    header('Cache-Control: ' . $_GET['cc']);
}
header('Content-Type: text/plain; charset=utf-8');
header('X-Php-Pid: ' . getmypid());
// A value no two runs share: a HIT repeating it was not computed again.
$run = bin2hex(random_bytes(8));
echo "uri=$uri method=$method run=$run\n";
if ($method === 'POST') {
    $in = file_get_contents('php://input');
    echo 'posted=' . (strlen($in) <= 64 ? $in : '(long)') . ' length=' . strlen($in) . ' md5=' . md5($in) . "\n";
}
if (isset($_GET['warn'])) {
    trigger_error("warned on $uri", E_USER_WARNING);
    echo "after a warning\n";
}
if (isset($_GET['fatal'])) {
    no_such_function();
}
if (isset($_GET['env'])) {
    echo 'env=' . (getenv($_GET['env']) ?: '') . "\n";
}
if (isset($_GET['flush'])) {
    send_now();
    usleep(50000);
    echo "after a flush\n";
}
if (isset($_GET['hang_ms'])) {
    send_now();
    usleep((int)$_GET['hang_ms'] * 1000);
    echo "after the hang\n";
}
if (isset($_GET['size'])) {
    // Bytes that do not repeat in a short period (so compression does not
    // hide a cut), split by PHP into many records.
    $n = (int)$_GET['size'];
    $body = '';
    for ($i = 0; strlen($body) < $n; $i++) {
        $body .= hash('sha256', "$uri $i") . "\n";
    }
    echo substr($body, 0, $n);
}
if (isset($_GET['finish'])) {
    echo "before finish\n";
    fastcgi_finish_request();
    // The client has its answer; the worker goes on, its output lost.
    echo "after finish (never sent)\n";
    usleep(300000);
}
file_put_contents($log, "done $uri " . getmypid() . " $run\n", FILE_APPEND | LOCK_EX);
