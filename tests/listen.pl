# listen.pl PORTFILE LOGFILE: listens on a free loopback port, writes the port
# to PORTFILE, and appends a line to LOGFILE for every connection it gets.
use strict;
use warnings;
use IO::Socket::INET;
my ($portfile, $log) = @ARGV;
my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1)
	or die "listen: $!";
open(my $p, '>', "$portfile.tmp") or die; print $p $s->sockport, "\n"; close $p;
rename("$portfile.tmp", $portfile);
while (my $c = $s->accept) {
	open(my $l, '>>', $log) or die; print $l "connection\n"; close $l;
	close $c;
}
