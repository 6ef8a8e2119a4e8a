#!/usr/bin/perl
# A CGI script in Perl.
if (open(my $f, '>>', $ENV{APP_COUNTER})) {
    print $f "run\n";
    close $f;
}
$| = 0;
print "Content-Type: text/plain\r\n\r\n";
print "perl pid=$$ preload=[", ($ENV{LD_PRELOAD} // ''), "]\n";
print "line $_\n" for 1..300;
exit(($ENV{QUERY_STRING} // '') =~ /exit=1/ ? 1 : 0);
