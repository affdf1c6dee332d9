// lib/config/statements.ts: the line loop both config parsers share
// (readStatements) and the list of a file's problems and warnings
// (FileProblems).
import t from 'tap';
import { FileProblems, readStatements } from '../../lib/config/statements.ts';
import { ConfigError } from '../../lib/config/errors.ts';

/** Every statement as `line: tokens`, quoted tokens in quotes; every problem as `line field: message`. */
function read(text: string, specials = ''): { statements: string[]; problems: string[] } {
  const statements: string[] = [];
  const problems: string[] = [];
  readStatements(
    text,
    specials,
    (line, field, message) => void problems.push(`${line} ${field}: ${message}`),
    (line, tokens) => void statements.push(`${line}: ${tokens.map((tok) => (tok.quoted ? `"${tok.text}"` : tok.text)).join(' ')}`),
  );
  return { statements, problems };
}

t.test('one call per statement line, numbered from 1, blank and comment lines skipped', async (t) => {
  const text = ['# header', '', 'service web', '   ', '  listen 127.0.0.1:80   # inline', '\t# indented comment', 'default g'].join('\n');
  t.same(read(text), {
    statements: ['3: service web', '5: listen 127.0.0.1:80', '7: default g'],
    problems: [],
  });
});

t.test('an empty file, a trailing newline, CRLF line ends', async (t) => {
  t.same(read(''), { statements: [], problems: [] });
  t.same(read('a b\n'), { statements: ['1: a b'], problems: [] });
  t.same(read('a b\r\nc "d e"\r\n'), { statements: ['1: a b', '2: c "d e"'], problems: [] }, 'a CR before the newline is whitespace');
});

t.test('a line the tokenizer refuses is reported by its first word and skipped', async (t) => {
  const text = ['service web', '  route r path-regex "\\.png$ to g', '  "unclosed', 'listen "a"b', 'default g'].join('\n');
  t.same(read(text), {
    statements: ['1: service web', '5: default g'],
    problems: [
      '2 route: unterminated quoted string',
      '3 syntax: unterminated quoted string',
      '4 listen: text directly after a closing quote (add a space)',
    ],
  });
});

t.test('specials are tokens of their own (the KTCPVS braces and =)', async (t) => {
  const text = 'virtual web{\n  pattern = "/x"\n}';
  t.same(read(text, '{}='), { statements: ['1: virtual web {', '2: pattern = "/x"', '3: }'], problems: [] });
  t.same(read(text), { statements: ['1: virtual web{', '2: pattern = "/x"', '3: }'], problems: [] }, 'without specials, web{ is one word');
});

t.test('FileProblems: sinks that know their file, thrown together in line order', async (t) => {
  const f = new FileProblems('site.tcpvs');
  t.doesNotThrow(() => f.throwIfAny(), 'nothing reported: nothing thrown');
  const { problem, warn } = f; // detached, as the parsers pass them around
  problem(9, 'group', 'second at 9');
  problem(3, 'listen', 'at 3');
  warn(7, 'route.to', 'warned at 7');
  problem(9, 'server', 'third at 9');
  problem(0, 'syntax', 'no line');
  warn(2, 'key', 'warned at 2');
  t.same(
    f.problems.map((p) => p.line),
    [9, 3, 9, 0],
    'kept in the order reported',
  );
  t.same(
    f.sortedWarnings(),
    [
      { file: 'site.tcpvs', line: 2, field: 'key', message: 'warned at 2' },
      { file: 'site.tcpvs', line: 7, field: 'route.to', message: 'warned at 7' },
    ],
    'warnings in line order',
  );
  let thrown: unknown;
  try {
    f.throwIfAny();
  } catch (err) {
    thrown = err;
  }
  t.ok(thrown instanceof ConfigError);
  const error = thrown as ConfigError;
  t.same(
    error.problems.map((p) => `${p.file}:${p.line} ${p.field} ${p.message}`),
    ['site.tcpvs:0 syntax no line', 'site.tcpvs:3 listen at 3', 'site.tcpvs:9 group second at 9', 'site.tcpvs:9 server third at 9'],
    'line order; the same line keeps the order reported',
  );
  t.equal(
    error.message,
    'site.tcpvs:0: syntax: no line\nsite.tcpvs:3: listen: at 3\nsite.tcpvs:9: group: second at 9\nsite.tcpvs:9: server: third at 9',
  );
  t.equal(f.warnings.length, 2, 'warnings are not thrown');
});

t.test('readStatements with FileProblems, as the parsers use them', async (t) => {
  const f = new FileProblems('k.conf');
  const seen: number[] = [];
  readStatements('a\n"b\nc "d', '', f.problem, (line) => void seen.push(line));
  t.same(seen, [1]);
  t.throws(() => f.throwIfAny(), {
    message: 'k.conf:2: syntax: unterminated quoted string\nk.conf:3: c: unterminated quoted string',
  });
});
