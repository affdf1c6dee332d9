#!/usr/bin/perl
# A small HTML page greeting ?name=... (from QUERY_STRING).
use strict;
use warnings;

my %param;
for my $pair (split /[&;]/, $ENV{QUERY_STRING} // '') {
    my ($key, $value) = split /=/, $pair, 2;
    next unless defined $key && length $key;
    for ($key, $value) {
        next unless defined;
        tr/+/ /;
        s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
    }
    $param{$key} = $value // '';
}

my $name = length($param{name} // '') ? $param{name} : 'world';
utf8::decode($name);
for ($name) {
    s/&/&amp;/g; s/</&lt;/g; s/>/&gt;/g; s/"/&quot;/g; s/'/&#39;/g;
}
binmode STDOUT, ':encoding(UTF-8)';
my $method = $ENV{REQUEST_METHOD} // '';
my $software = $ENV{SERVER_SOFTWARE} // '';
print "Content-Type: text/html; charset=utf-8\r\n\r\n";
print <<"HTML";
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hello, $name</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<main>
<h1>Hello, $name!</h1>
<p>This page was made by <code>hello.pl</code>, a CGI script run by $software for a $method request.</p>
<form method="get" action="/cgi-bin/hello.pl">
<label>Your name <input name="name" value="$name"></label>
<button>Greet me</button>
</form>
<p><a href="/">Back to the start page</a></p>
</main>
</body>
</html>
HTML
