#!/usr/bin/perl
# perl_app.pl -- a FastCGI app in Perl (Debian's libfcgi-perl, whose
# FCGI.so loads libfcgi.so.0 RTLD_LOCAL: the case dlsym(RTLD_NEXT) misses).
use strict;
use FCGI;
my $counter = $ENV{APP_COUNTER};
my %env;
my $request = FCGI::Request(\*STDIN, \*STDOUT, \*STDERR, \%env);
my $runs = 0;
while ($request->Accept() >= 0) {
    $runs++;
    if (defined $counter && open(my $f, '>>', $counter)) {
        print $f "GET $env{REQUEST_URI}\n";
        close $f;
    }
    print "Content-Type: text/plain\r\n\r\nuri=$env{REQUEST_URI} run=$runs perl\n";
}
