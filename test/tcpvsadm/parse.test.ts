// tcpvsadm's command line: every KTCPVS command and its defaults, getopt's
// forms (clustered, attached, --long=value, unique prefixes), tcpvsadm.c's
// table of required and illegal options with its messages, and the native
// commands with their usage errors.
import t from 'tap';
import type { Test } from 'tap';
import { LEGAL, OPTION_ORDER, parseTcpvsadmArgs, usage, type Invocation } from '../../lib/tcpvsadm/parse.ts';

function ok(t: Test, argv: string[]): Invocation {
  const r = parseTcpvsadmArgs(argv);
  if (r.kind !== 'run') {
    t.fail(`${argv.join(' ')}: expected a command, got ${JSON.stringify(r)}`);
    throw new Error('parse failed');
  }
  return r.invocation;
}

function edit(t: Test, argv: string[]): unknown {
  const inv = ok(t, argv);
  if (inv.kind !== 'edit') throw new Error(`${argv.join(' ')}: not an edit: ${inv.kind}`);
  return inv.command;
}

/** The usage error an argv gives: its message, or '' with tryHelp as `+try`. */
function usageError(argv: string[]): string {
  const r = parseTcpvsadmArgs(argv);
  if (r.kind !== 'error') return `no error: ${JSON.stringify(r)}`;
  return r.message + (r.tryHelp ? ' +try' : '');
}

t.test('the command table has one column per option', async (t) => {
  for (const [command, row] of Object.entries(LEGAL)) t.equal(row.length, OPTION_ORDER.length, command);
});

t.test('-A and -E: scheduler and listen address, KTCPVS defaults', async (t) => {
  t.same(
    edit(t, ['-A', '-i', 'web']),
    { op: 'add-service', ident: 'web', scheduler: undefined, listen: undefined },
    'the edit supplies wlc and 0.0.0.0:8080',
  );
  t.same(edit(t, ['-A', '-i', 'web', '-s', 'http', '-l', '127.0.0.1:8081']), {
    op: 'add-service',
    ident: 'web',
    scheduler: 'http',
    listen: '127.0.0.1:8081',
  });
  t.same(
    edit(t, ['-A', '-i', 'web', '-P', '9000']),
    { op: 'add-service', ident: 'web', scheduler: undefined, listen: '0.0.0.0:9000' },
    '-P alone: every address',
  );
  t.same((edit(t, ['-A', '-i', 'web', '-l', '10.0.0.1', '-P', '81']) as { listen: string }).listen, '10.0.0.1:81', '-l HOST with -P PORT');
  t.same(
    (edit(t, ['-A', '-i', 'web', '-l', '10.0.0.1']) as { listen: string }).listen,
    '10.0.0.1:8080',
    "-l HOST alone: KTCPVS's port 8080",
  );
  t.same((edit(t, ['-A', '-i', 'web', '-l', '[::1]']) as { listen: string }).listen, '[::1]:8080');
  t.same((edit(t, ['-A', '-i', 'web', '-l', '[::1]:82']) as { listen: string }).listen, '[::1]:82');
  t.same(
    (edit(t, ['-A', '-i', 'web', '-l', '127.0.0.1:0']) as { listen: string }).listen,
    '127.0.0.1:0',
    'port 0: any free port, as in a config',
  );
  t.same(edit(t, ['-E', '-i', 'web', '-s', 'rr']), { op: 'edit-service', ident: 'web', scheduler: 'rr', listen: undefined });
  t.same(edit(t, ['--edit-service', '--ident=web', '--listen', '127.0.0.1:90']), {
    op: 'edit-service',
    ident: 'web',
    scheduler: undefined,
    listen: '127.0.0.1:90',
  });
  t.same(
    edit(t, ['-Aiweb', '-shttp']),
    { op: 'add-service', ident: 'web', scheduler: 'http', listen: undefined },
    'values attached to clustered options',
  );
  t.equal(usageError(['--add-s', '-i', 'web']), "option '--add-s' is ambiguous (--add-service, --add-server) +try");
  t.same(
    edit(t, ['--add-servi', '--id', 'web']),
    { op: 'add-service', ident: 'web', scheduler: undefined, listen: undefined },
    'unique prefixes of long options',
  );

  t.equal(usageError(['-E', '-i', 'web']), 'nothing to edit: give -s SCHEDULER, -l ADDRESS[:PORT] or -P PORT');
  t.equal(usageError(['-A', '-s', 'rr']), "You need to supply the 'ident' option for the 'add-service' command");
  t.equal(usageError(['-A', '-i', 'web', '-r', '10.0.0.1:80']), "Illegal 'real-server' option with the 'add-service' command");
  t.equal(usageError(['-A', '-i', 'web', '-l', '10.0.0.1:80', '-P', '81']), '-P 81 conflicts with the port in -l 10.0.0.1:80');
  t.equal(usageError(['-A', '-i', 'web', '-P', '70000']), "illegal service port '70000': must be 1..65535");
  t.match(usageError(['-A', '-i', 'web', '-l', 'bad host:80']), /^illegal listen address: bad address 'bad host:80'/);
  t.match(usageError(['-A', '-i', 'web', '-l', '::1:80']), /write IPv6 addresses in brackets/);
  t.match(usageError(['-A', '-i', 'we b']), /^illegal ident: bad name 'we b'/);
  t.equal(usageError(['-A', '-i', 'a', '-i', 'b']), "multiple 'ident' options specified");
});

t.test('-D, -F, -L', async (t) => {
  t.same(edit(t, ['-D', '-i', 'web']), { op: 'delete-service', ident: 'web' });
  t.same(edit(t, ['-F']), { op: 'flush' });
  t.same(edit(t, ['--flush']), { op: 'flush' });
  t.same(ok(t, ['-L']), { kind: 'list', ident: undefined, numeric: false, stats: null });
  t.same(ok(t, []), { kind: 'list', numeric: false, stats: null }, 'no arguments lists, as tcpvsadm');
  t.same(ok(t, ['-Ln']), { kind: 'list', ident: undefined, numeric: true, stats: null });
  t.same(ok(t, ['-L', '-i', 'web', '--stats']), { kind: 'list', ident: 'web', numeric: false, stats: 'stats' });
  t.same(ok(t, ['--list', '--rate']), { kind: 'list', ident: undefined, numeric: false, stats: 'rate' });
  t.equal(usageError(['-L', '--stats', '--rate']), "The option 'rate' conflicts with the 'stats' option in the 'list' command");
  t.equal(usageError(['-D']), "You need to supply the 'ident' option for the 'delete-service' command");
  t.equal(usageError(['-D', '-i', 'web', '-s', 'rr']), "Illegal 'scheduler' option with the 'delete-service' command");
  t.equal(usageError(['-F', '-i', 'web']), "Illegal 'ident' option with the 'flush' command");
  t.equal(usageError(['-L', '-s', 'rr']), "Illegal 'scheduler' option with the 'list' command");
  t.equal(usageError(['-A', '-i', 'web', '--stats']), "Illegal 'stats' option with the 'add-service' command");
});

t.test('-a, -e, -d: real servers', async (t) => {
  t.same(
    edit(t, ['-a', '-i', 'web', '-r', '10.0.0.1:80']),
    { op: 'add-server', ident: 'web', server: '10.0.0.1:80', weight: 1 },
    'weight 1 by default',
  );
  t.same(
    edit(t, ['-a', '-i', 'web', '-r', 'web1:80', '-w', '0']),
    { op: 'add-server', ident: 'web', server: 'web1:80', weight: 0 },
    'host names; weight 0 is quiescent',
  );
  t.same(edit(t, ['-e', '-i', 'web', '-r', '10.0.0.1:80', '--weight=7']), {
    op: 'edit-server',
    ident: 'web',
    server: '10.0.0.1:80',
    weight: 7,
  });
  t.same(
    edit(t, ['-e', '-i', 'web', '-r', '10.0.0.1:80']),
    { op: 'edit-server', ident: 'web', server: '10.0.0.1:80', weight: 1 },
    'as KTCPVS, -e without -w sets 1',
  );
  t.same(edit(t, ['-d', '-i', 'web', '-r', '[::1]:80']), { op: 'delete-server', ident: 'web', server: '[::1]:80' });
  t.equal(usageError(['-a', '-i', 'web']), "You need to supply the 'real-server' option for the 'add-server' command");
  t.equal(usageError(['-a', '-r', '10.0.0.1:80']), "You need to supply the 'ident' option for the 'add-server' command");
  t.equal(usageError(['-d', '-i', 'web', '-r', '10.0.0.1:80', '-w', '2']), "Illegal 'weight' option with the 'delete-server' command");
  t.equal(usageError(['-a', '-i', 'web', '-r', '10.0.0.1:80', '-w', '65536']), "illegal weight '65536': must be an integer 0..65535");
  t.equal(usageError(['-a', '-i', 'web', '-r', '10.0.0.1:80', '-w', '-1']), "illegal weight '-1': must be an integer 0..65535");
  t.match(usageError(['-a', '-i', 'web', '-r', '10.0.0.1']), /^illegal server address: bad address '10\.0\.0\.1': expected HOST:PORT/);
});

t.test('--add-rule and --del-rule', async (t) => {
  t.same(edit(t, ['--add-rule', '-i', 'http', '--pattern=/images/.*', '-r', 'web1:80']), {
    op: 'add-rule',
    ident: 'http',
    pattern: '/images/.*',
    server: 'web1:80',
    match: undefined,
  });
  t.same(edit(t, ['--add-rule', '-i', 'web', '--pattern', '/users/([^/]+)/.*', '-m', '1', '-r', '192.168.0.10:80']), {
    op: 'add-rule',
    ident: 'web',
    pattern: '/users/([^/]+)/.*',
    server: '192.168.0.10:80',
    match: 1,
  });
  t.same(edit(t, ['--del-rule', '-i', 'http', '-p', '.*', '-r', 'web3:80']), {
    op: 'del-rule',
    ident: 'http',
    pattern: '.*',
    server: 'web3:80',
  });
  t.equal(usageError(['--add-rule', '-i', 'http', '-r', 'web1:80']), "You need to supply the 'pattern' option for the 'add-rule' command");
  t.equal(
    usageError(['--del-rule', '-i', 'http', '-p', '.*', '-r', 'web1:80', '-m', '1']),
    "Illegal 'match' option with the 'del-rule' command",
  );
  t.equal(
    usageError(['--add-rule', '-i', 'http', '-p', '.*', '-r', 'web1:80', '-w', '2']),
    "Illegal 'weight' option with the 'add-rule' command",
  );
  t.match(usageError(['--add-rule', '-i', 'http', '-p', '(', '-r', 'web1:80']), /^illegal pattern: bad regular expression "\("/);
  t.equal(
    usageError(['--add-rule', '-i', 'http', '-p', 'x', '-r', 'web1:80', '-m', '100']),
    "illegal match number '100': must be an integer 0..99",
  );
});

t.test('-f, --start, --stop, -h', async (t) => {
  t.same(ok(t, ['-f', 'rules/ktcpvs.conf']), { kind: 'load', path: 'rules/ktcpvs.conf' });
  t.same(ok(t, ['--load-configfile=/etc/tcpvs.conf']), { kind: 'load', path: '/etc/tcpvs.conf' });
  t.same(ok(t, ['--start']), { kind: 'start', ident: undefined });
  t.same(ok(t, ['--stop', '-i', 'web1']), { kind: 'stop', ident: 'web1' });
  t.same(parseTcpvsadmArgs(['-h']), { kind: 'help' });
  t.same(parseTcpvsadmArgs(['--help']), { kind: 'help' });
  t.same(parseTcpvsadmArgs(['help']), { kind: 'help' });
  t.equal(usageError(['-f', 'a.conf', '-i', 'web']), "Illegal 'ident' option with the 'load-configfile' command");
  t.equal(usageError(['-f']), "option requires an argument -- 'f' +try");
  t.equal(usageError(['--start', '-s', 'rr']), "Illegal 'scheduler' option with the 'start' command");
  t.match(usage('1.2.3'), /tcpvsadm 1\.2\.3/);
  t.match(usage('1.2.3'), /--add-rule -i ident -p pattern -r server-address \[-m match-num\]/);
  t.match(usage('1.2.3'), /tcpvsadm route add SERVICE NAME MATCHER\.\.\. to GROUP \[before ROUTE\]/);
});

t.test('getopt errors', async (t) => {
  t.equal(usageError(['-A', '-D', '-i', 'x']), 'multiple commands specified');
  t.equal(usageError(['-i', 'web', '-A']), 'the first option must be a command, not --ident +try');
  t.equal(usageError(['-Ax']), "invalid option -- 'x' +try");
  t.equal(usageError(['--bogus']), "unrecognized option '--bogus' +try");
  t.equal(usageError(['--de', '-i', 'x']), "option '--de' is ambiguous (--delete-service, --delete-server, --del-rule) +try");
  t.equal(usageError(['--flush=yes']), "option '--flush' doesn't allow an argument +try");
  t.equal(usageError(['-A', '--ident']), "option '--ident' requires an argument +try");
  t.equal(usageError(['-A', '-i', 'web', 'extra']), 'unknown arguments found in command line: extra');
  t.equal(usageError(['-F', '--', '-x']), 'unknown arguments found in command line: -x');
  t.equal(usageError(['web']), ' +try', 'a word that is neither an option nor a native command');
});

t.test('native commands', async (t) => {
  t.same(ok(t, ['show']), { kind: 'show', service: undefined });
  t.same(ok(t, ['show', 'web']), { kind: 'show', service: 'web' });
  t.same(edit(t, ['group', 'add', 'web', 'images']), { op: 'group-add', service: 'web', group: 'images', scheduler: undefined });
  t.same(edit(t, ['group', 'add', 'web', 'cache', 'scheduler', 'mh']), {
    op: 'group-add',
    service: 'web',
    group: 'cache',
    scheduler: 'mh',
  });
  t.same(edit(t, ['group', 'del', 'web', 'cache']), { op: 'group-del', service: 'web', group: 'cache' });
  t.same(edit(t, ['server', 'add', 'web', 'images', '10.0.0.1:80']), {
    op: 'server-add',
    service: 'web',
    group: 'images',
    server: '10.0.0.1:80',
    weight: 1,
  });
  t.same(edit(t, ['server', 'add', 'web', 'images', '10.0.0.1:80', 'weight', '3']), {
    op: 'server-add',
    service: 'web',
    group: 'images',
    server: '10.0.0.1:80',
    weight: 3,
  });
  t.same(edit(t, ['server', 'del', 'web', 'images', '10.0.0.1:80']), {
    op: 'server-del',
    service: 'web',
    group: 'images',
    server: '10.0.0.1:80',
  });
  t.same(edit(t, ['server', 'weight', 'web', 'images', '10.0.0.1:80', '9']), {
    op: 'server-weight',
    service: 'web',
    group: 'images',
    server: '10.0.0.1:80',
    weight: 9,
  });
  t.same(
    edit(t, ['server', 'drain', 'web', 'images', '10.0.0.1:80']),
    { op: 'server-weight', service: 'web', group: 'images', server: '10.0.0.1:80', weight: 0 },
    'drain is weight 0',
  );
  t.same(edit(t, ['route', 'add', 'web', 'img', 'prefix', '/images/', 'method', 'GET,HEAD', 'to', 'images']), {
    op: 'route-add',
    service: 'web',
    name: 'img',
    matchers: ['prefix', '/images/', 'method', 'GET,HEAD'],
    group: 'images',
    before: undefined,
  });
  t.same(edit(t, ['route', 'add', 'web', 'api', 'header', 'x-api', 'present', 'to', 'api', 'before', 'img']), {
    op: 'route-add',
    service: 'web',
    name: 'api',
    matchers: ['header', 'x-api', 'present'],
    group: 'api',
    before: 'img',
  });
  t.same(
    edit(t, ['route', 'add', 'web', 'to', 'query', 'to', '=', 'to', 'to', 'g']),
    {
      op: 'route-add',
      service: 'web',
      name: 'to',
      matchers: ['query', 'to', '=', 'to'],
      group: 'g',
      before: undefined,
    },
    "'to' as a name and a value: the last one before the group counts",
  );
  t.same(edit(t, ['route', 'del', 'web', 'img']), { op: 'route-del', service: 'web', name: 'img' });
  t.same(edit(t, ['default', 'set', 'web', 'static']), { op: 'default', service: 'web', group: 'static' });
  t.same(edit(t, ['default', 'del', 'web']), { op: 'default', service: 'web', group: null });

  t.equal(usageError(['show', 'a', 'b']), "unexpected 'b': usage: tcpvsadm show [SERVICE]");
  t.equal(usageError(['group']), 'missing group command (add, del): usage: tcpvsadm group add SERVICE GROUP [scheduler S]');
  t.equal(
    usageError(['group', 'rename']),
    "unknown group command 'rename' (add, del): usage: tcpvsadm group add SERVICE GROUP [scheduler S]",
  );
  t.equal(usageError(['group', 'add', 'web']), 'group add: missing argument: usage: tcpvsadm group add SERVICE GROUP [scheduler S]');
  t.equal(
    usageError(['group', 'add', 'web', 'g', 'sched', 'rr']),
    "group add: expected 'scheduler S' after the group name: usage: tcpvsadm group add SERVICE GROUP [scheduler S]",
  );
  t.match(usageError(['group', 'add', 'web', 'bad/name']), /^group add: bad group name: bad name 'bad\/name'/);
  t.equal(usageError(['group', 'del', 'web', 'g', 'x']), "group del: unexpected 'x': usage: tcpvsadm group del SERVICE GROUP");
  t.match(usageError(['server', 'add', 'web', 'g', '10.0.0.1']), /^server add: bad address '10\.0\.0\.1': expected HOST:PORT/);
  t.match(
    usageError(['server', 'add', 'web', 'g', '10.0.0.1:80', 'weight', 'x']),
    /^server add: bad weight 'x': must be an integer 0\.\.65535/,
  );
  t.match(usageError(['server', 'add', 'web', 'g', '10.0.0.1:80', 'heavy', '2']), /^server add: unexpected 'heavy'/);
  t.match(usageError(['server', 'weight', 'web', 'g', '10.0.0.1:80']), /^server weight: missing argument/);
  t.match(usageError(['server', 'weight', 'web', 'g', '10.0.0.1:80', '70000']), /^server weight: bad weight '70000'/);
  t.match(usageError(['server', 'drain', 'web', 'g', '10.0.0.1:80', '0']), /^server drain: unexpected '0'/);
  t.match(usageError(['route', 'add', 'web', 'img', 'prefix', '/i/']), /^route add: missing 'to GROUP' at the end/);
  t.match(usageError(['route', 'add', 'web', 'img', 'prefix', '/i/', 'to']), /^route add: missing group name after 'to'/);
  t.match(
    usageError(['route', 'add', 'web', 'img', 'to', 'g']),
    /^route add: route 'img' has no matchers \(use 'default set SERVICE GROUP' for a catch-all\)/,
  );
  t.match(usageError(['route', 'add', 'web', 'img', 'prefix', 'images', 'to', 'g']), /^route add: prefix: 'images' must start with '\/'/);
  t.match(usageError(['route', 'add', 'web', 'img', 'url-regex', '(', 'to', 'g']), /^route add: url-regex: bad regular expression/);
  t.match(usageError(['route', 'add', 'web', 'img', 'colour', 'red', 'to', 'g']), /^route add: route: unknown matcher 'colour'/);
  t.match(usageError(['route', 'add', 'web', 'b@d', 'prefix', '/', 'to', 'g']), /^route add: bad route name/);
  t.match(usageError(['route', 'add', 'web']), /^route add: missing argument/);
  t.match(usageError(['default', 'set', 'web']), /^default set: missing argument/);
  t.match(usageError(['default', 'del', 'web', 'x']), /^default del: unexpected 'x'/);
});
