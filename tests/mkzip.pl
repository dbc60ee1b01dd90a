# mkzip.pl OUT SPEC...: writes a zip by hand, so a test can make what no zip
# tool makes on purpose. SPEC is NAME=@FILE (deflated), NAME=zeros:BYTES
# (BYTES zero bytes, deflated once and reused), NAME=text:TEXT (stored), or
# many:N (N tiny stored entries f1..fN). Zip64 end records when over 65535.
use strict;
use warnings;
use Compress::Zlib;
my $out = shift @ARGV;
open(my $fh, '>:raw', $out) or die "$out: $!";
my ($off, $cd, $n) = (0, '', 0);
my %zeros;
sub put {
	my ($name, $data, $method, $usize, $crc) = @_;
	my $local = pack('VvvvvvVVVvv', 0x04034b50, 20, 0, $method, 0, 0x21, $crc,
			 length($data), $usize, length($name), 0) . $name;
	print $fh $local, $data;
	$cd .= pack('VvvvvvvVVVvvvvvVV', 0x02014b50, 20, 20, 0, $method, 0, 0x21, $crc,
		    length($data), $usize, length($name), 0, 0, 0, 0, 0, $off) . $name;
	$off += length($local) + length($data);
	$n++;
}
sub deflated {
	my ($bytes) = @_;
	my ($d) = deflateInit(-WindowBits => -MAX_WBITS, -Level => 1);
	my $z = '';
	my $chunk = "\0" x 1048576;
	my $left = $bytes;
	while ($left > 0) {
		my $part = $left < length($chunk) ? substr($chunk, 0, $left) : $chunk;
		my ($o) = $d->deflate($part);
		$z .= $o;
		$left -= length($part);
	}
	my ($o) = $d->flush();
	return $z . $o;
}
sub zero_crc {
	my ($bytes) = @_;
	my $crc = 0;
	my $chunk = "\0" x 1048576;
	my $left = $bytes;
	while ($left > 0) {
		my $part = $left < length($chunk) ? substr($chunk, 0, $left) : $chunk;
		$crc = crc32($part, $crc);
		$left -= length($part);
	}
	return $crc;
}
for my $spec (@ARGV) {
	if ($spec =~ /^many:(\d+)$/) {
		put("f$_", "x", 0, 1, crc32("x")) for 1 .. $1;
	} elsif ($spec =~ /^(.*?)=zeros:(\d+)$/) {
		$zeros{$2} ||= [deflated($2), zero_crc($2)];
		put($1, $zeros{$2}[0], 8, $2, $zeros{$2}[1]);
	} elsif ($spec =~ /^(.*?)=text:(.*)$/s) {
		put($1, $2, 0, length($2), crc32($2));
	} elsif ($spec =~ /^(.*?)=@(.*)$/) {
		open(my $in, '<:raw', $2) or die "$2: $!";
		local $/;
		my $data = <$in>;
		my ($d) = deflateInit(-WindowBits => -MAX_WBITS, -Level => 9);
		my ($a) = $d->deflate($data);
		my ($b) = $d->flush();
		put($1, $a . $b, 8, length($data), crc32($data));
	} else {
		die "bad spec $spec";
	}
}
my $cd_off = $off;
print $fh $cd;
if ($n > 65535) {
	print $fh pack('VQ<vvVVQ<Q<Q<Q<', 0x06064b50, 44, 45, 45, 0, 0, $n, $n, length($cd), $cd_off);
	print $fh pack('VVQ<V', 0x07064b50, 0, $cd_off + length($cd), 1);
	print $fh pack('VvvvvVVv', 0x06054b50, 0, 0, 0xFFFF, 0xFFFF, length($cd), $cd_off, 0);
} else {
	print $fh pack('VvvvvVVv', 0x06054b50, 0, 0, $n, $n, length($cd), $cd_off, 0);
}
close($fh) or die "$out: $!";
