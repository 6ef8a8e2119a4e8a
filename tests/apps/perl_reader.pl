#!/usr/bin/perl
# perl_reader.pl -- a FastCGI app in Perl (FCGI.pm) that reads its request
# the way many CGI stacks do, unlike libfcgi's first-copy getenv():
#   - a parameter sent twice keeps its last copy (FCGI.pm fills a hash);
#   - the query is split on ';' as well as '&' (CGI.pm), names compared
#     without case and with '.' and ' ' read as '_' (as PHP renames them);
#   - the page it serves is chosen by DOCUMENT_URI, the path the web
#     server normalised, and /private/ pages show the session cookie.
# The body shows what it read, so a test can tell whose page it got.
# Headers from the query: maxage=N (Cache-Control: max-age=N) and cc2=V (a
# second Cache-Control line).
use strict;
use FCGI;
my $counter = $ENV{APP_COUNTER};
my %env;
my $request = FCGI::Request(\*STDIN, \*STDOUT, \*STDERR, \%env);
my $runs = 0;
sub decode { my $s = shift; $s =~ tr/+/ /; $s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge; $s }
while ($request->Accept() >= 0) {
    $runs++;
    if (defined $counter && open(my $f, '>>', $counter)) {
        print $f "$env{REQUEST_METHOD} $env{REQUEST_URI}\n";
        close $f;
    }
    my %p;
    for my $pair (split /[&;]/, $env{QUERY_STRING} // '') {
        my ($k, $v) = split /=/, $pair, 2;
        $k = lc decode($k // ''); $k =~ s/[. ]/_/g;
        $p{$k} = decode($v // '');
    }
    my ($session) = ($env{HTTP_COOKIE} // '') =~ /session=(\w+)/;
    my $doc = $env{DOCUMENT_URI} // $env{SCRIPT_NAME} // '';
    print "Content-Type: text/plain\r\n";
    print "Cache-Control: max-age=$p{maxage}\r\n" if defined $p{maxage};
    print "Cache-Control: $p{cc2}\r\n" if defined $p{cc2};
    print "\r\n";
    if ($doc =~ m{^/private/}) {
        print "private page of user=", $session // 'nobody', "\n";
    } else {
        print "doc=$doc page=", $p{page} // '-', " user=", $session // 'nobody',
              " lang=", $env{HTTP_X_LANG} // '-', " port=$env{SERVER_PORT} run=$runs\n";
    }
}
