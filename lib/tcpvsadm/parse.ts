// tcpvsadm's command line. Two syntaxes share it:
//
// KTCPVS's tcpvsadm(8), getopt style: the first option is the command, the
// options follow in any order, short ones may be clustered (-Ln) and take
// their value attached or as the next word (-iweb, -i web), long ones as
// --ident=web or --ident web, and any unique prefix of a long one works. The
// table of which option each command needs, allows or refuses, and its
// messages, follow tcpvsadm.c.
//
// tcpvs-native commands: a noun, a verb and positional words
// (`server add web images 10.0.0.1:80 weight 2`), documented in usage().
import { checkName, compileRegex, parseEndpoint, parseInteger, parsePort, type Token } from '../config/tokenize.ts';
import { MAX_WEIGHT } from '../config/model.ts';
import { parseMatcher } from '../config/route-syntax.ts';
import { DEFAULT_LISTEN, MAX_SUBMATCH, type EditCommand } from './wire.ts';

export type StatsMode = 'stats' | 'rate';

export type Invocation =
  | { kind: 'edit'; command: EditCommand; name: string }
  | { kind: 'list'; ident?: string; numeric: boolean; stats: StatsMode | null }
  | { kind: 'load'; path: string }
  | { kind: 'start' | 'stop'; ident?: string }
  | { kind: 'show'; service?: string };

export type ParseResult =
  | { kind: 'run'; invocation: Invocation }
  | { kind: 'help' }
  /** A usage error (exit 2); tryHelp adds the "Try `tcpvsadm -h'" line. */
  | { kind: 'error'; message: string; tryHelp: boolean };

type Command =
  | 'add-service'
  | 'edit-service'
  | 'delete-service'
  | 'flush'
  | 'list'
  | 'add-server'
  | 'edit-server'
  | 'delete-server'
  | 'add-rule'
  | 'del-rule'
  | 'start'
  | 'stop'
  | 'load-configfile'
  | 'help';

type OptionName = 'numeric' | 'ident' | 'scheduler' | 'port' | 'listen' | 'real-server' | 'weight' | 'pattern' | 'match' | 'stats' | 'rate';

interface OptionSpec {
  long: string;
  short?: string;
  /** The command it selects, or the option it sets. */
  command?: Command;
  option?: OptionName;
  arg: boolean;
}

const OPTIONS: readonly OptionSpec[] = [
  { long: 'add-service', short: 'A', command: 'add-service', arg: false },
  { long: 'edit-service', short: 'E', command: 'edit-service', arg: false },
  { long: 'delete-service', short: 'D', command: 'delete-service', arg: false },
  { long: 'flush', short: 'F', command: 'flush', arg: false },
  { long: 'list', short: 'L', command: 'list', arg: false },
  { long: 'add-server', short: 'a', command: 'add-server', arg: false },
  { long: 'edit-server', short: 'e', command: 'edit-server', arg: false },
  { long: 'delete-server', short: 'd', command: 'delete-server', arg: false },
  { long: 'add-rule', command: 'add-rule', arg: false },
  { long: 'del-rule', command: 'del-rule', arg: false },
  { long: 'start', command: 'start', arg: false },
  { long: 'stop', command: 'stop', arg: false },
  { long: 'load-configfile', short: 'f', command: 'load-configfile', arg: true },
  { long: 'help', short: 'h', command: 'help', arg: false },
  { long: 'ident', short: 'i', option: 'ident', arg: true },
  { long: 'scheduler', short: 's', option: 'scheduler', arg: true },
  { long: 'port', short: 'P', option: 'port', arg: true },
  { long: 'listen', short: 'l', option: 'listen', arg: true },
  { long: 'real-server', short: 'r', option: 'real-server', arg: true },
  { long: 'weight', short: 'w', option: 'weight', arg: true },
  { long: 'pattern', short: 'p', option: 'pattern', arg: true },
  { long: 'match', short: 'm', option: 'match', arg: true },
  { long: 'numeric', short: 'n', option: 'numeric', arg: false },
  { long: 'stats', option: 'stats', arg: false },
  { long: 'rate', option: 'rate', arg: false },
];

export const OPTION_ORDER: readonly OptionName[] = [
  'numeric',
  'ident',
  'scheduler',
  'port',
  'listen',
  'real-server',
  'weight',
  'pattern',
  'match',
  'stats',
  'rate',
];

/**
 * Which options each command takes, as tcpvsadm.c's commands_v_options:
 * '+' required, 'x' refused, ' ' optional. tcpvs adds --stats and --rate to
 * -L, and lets -E change the listen address (hot reload can).
 */
export const LEGAL: Record<Exclude<Command, 'help' | 'load-configfile'>, string> = {
  //                 n i s P l r w p m st ra
  'add-service': 'x+   xxxxxx',
  'edit-service': 'x+   xxxxxx',
  'delete-service': 'x+xxxxxxxxx',
  flush: 'xxxxxxxxxxx',
  list: '  xxxxxxx  ',
  'add-server': 'x+xxx+ xxxx',
  'edit-server': 'x+xxx+ xxxx',
  'delete-server': 'x+xxx+xxxxx',
  'add-rule': 'x+xxx+x+ xx',
  'del-rule': 'x+xxx+x+xxx',
  start: 'x xxxxxxxxx',
  stop: 'x xxxxxxxxx',
};

const PROGRAM = 'tcpvsadm';

function usageError(message: string, tryHelp = false): ParseResult {
  return { kind: 'error', message, tryHelp };
}

/** Words that start a native command (the first word of argv). */
export const NATIVE_NOUNS: ReadonlySet<string> = new Set(['show', 'group', 'server', 'route', 'default', 'help']);

export function parseTcpvsadmArgs(argv: readonly string[]): ParseResult {
  // No arguments lists the table, as tcpvsadm did.
  if (argv.length === 0) return { kind: 'run', invocation: { kind: 'list', numeric: false, stats: null } };
  if (NATIVE_NOUNS.has(argv[0])) return parseNative(argv);
  return parseKtcpvs(argv);
}

// ---- KTCPVS syntax ----

interface Seen {
  command: Command | null;
  commandArg: string;
  values: Map<OptionName, string>;
  extra: string[];
}

function parseKtcpvs(argv: readonly string[]): ParseResult {
  const seen: Seen = { command: null, commandArg: '', values: new Map(), extra: [] };
  const take = (spec: OptionSpec, value: string): ParseResult | null => {
    if (spec.command !== undefined) {
      if (seen.command !== null) return usageError('multiple commands specified');
      seen.command = spec.command;
      seen.commandArg = value;
      return null;
    }
    const option = spec.option as OptionName;
    if (seen.command === null) return usageError(`the first option must be a command, not --${spec.long}`, true);
    if (seen.values.has(option)) return usageError(`multiple '${option}' options specified`);
    seen.values.set(option, value);
    return null;
  };

  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') {
      seen.extra.push(...argv.slice(i + 1));
      break;
    }
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = word.slice(2, eq === -1 ? undefined : eq);
      const matches = OPTIONS.filter((o) => o.long.startsWith(name));
      const spec = OPTIONS.find((o) => o.long === name) ?? (matches.length === 1 ? matches[0] : undefined);
      if (spec === undefined) {
        return usageError(
          matches.length > 1
            ? `option '--${name}' is ambiguous (${matches.map((o) => `--${o.long}`).join(', ')})`
            : `unrecognized option '--${name}'`,
          true,
        );
      }
      let value = '';
      if (spec.arg) {
        if (eq !== -1) value = word.slice(eq + 1);
        else if (i + 1 < argv.length) value = argv[++i];
        else return usageError(`option '--${spec.long}' requires an argument`, true);
      } else if (eq !== -1) return usageError(`option '--${spec.long}' doesn't allow an argument`, true);
      const bad = take(spec, value);
      if (bad !== null) return bad;
      continue;
    }
    if (word.startsWith('-') && word.length > 1) {
      for (let j = 1; j < word.length; j++) {
        const spec = OPTIONS.find((o) => o.short === word[j]);
        if (spec === undefined) return usageError(`invalid option -- '${word[j]}'`, true);
        let value = '';
        if (spec.arg) {
          if (j + 1 < word.length) value = word.slice(j + 1);
          else if (i + 1 < argv.length) value = argv[++i];
          else return usageError(`option requires an argument -- '${word[j]}'`, true);
          j = word.length;
        }
        const bad = take(spec, value);
        if (bad !== null) return bad;
      }
      continue;
    }
    seen.extra.push(word);
  }
  if (seen.command === null) return usageError('', true);
  if (seen.command === 'help') return { kind: 'help' };
  if (seen.extra.length > 0) return usageError(`unknown arguments found in command line: ${seen.extra.join(' ')}`);
  if (seen.command === 'load-configfile') {
    if (seen.values.size > 0) return usageError(`Illegal '${[...seen.values.keys()][0]}' option with the 'load-configfile' command`);
    if (seen.commandArg === '') return usageError('-f needs a config file');
    return { kind: 'run', invocation: { kind: 'load', path: seen.commandArg } };
  }
  const legal = LEGAL[seen.command];
  for (let k = 0; k < OPTION_ORDER.length; k++) {
    const option = OPTION_ORDER[k];
    if (!seen.values.has(option) && legal[k] === '+')
      return usageError(`You need to supply the '${option}' option for the '${seen.command}' command`);
    if (seen.values.has(option) && legal[k] === 'x') return usageError(`Illegal '${option}' option with the '${seen.command}' command`);
  }
  return build(seen.command, seen.values);
}

function build(command: Exclude<Command, 'help' | 'load-configfile'>, values: Map<OptionName, string>): ParseResult {
  const ident = values.get('ident');
  if (ident !== undefined) {
    const bad = checkName(ident);
    if (bad !== null) return usageError(`illegal ident: ${bad}`);
  }
  const id = ident as string;
  const run = (invocation: Invocation): ParseResult => ({ kind: 'run', invocation });
  const edit = (c: EditCommand): ParseResult => run({ kind: 'edit', command: c, name: command });
  const server = (): ParseResult | string => {
    const text = values.get('real-server') as string;
    const parsed = parseEndpoint(text);
    return parsed.ok ? text : usageError(`illegal server address: ${parsed.message}`);
  };
  let weight: number | undefined;
  if (values.has('weight')) {
    const n = parseInteger(values.get('weight') as string, 0, MAX_WEIGHT);
    if (n === null) return usageError(`illegal weight '${values.get('weight')}': must be an integer 0..${MAX_WEIGHT}`);
    weight = n;
  }
  switch (command) {
    case 'add-service':
    case 'edit-service': {
      const listen = listenAddress(values);
      if (typeof listen !== 'string' && listen !== undefined) return listen;
      const scheduler = values.get('scheduler');
      if (command === 'edit-service' && scheduler === undefined && listen === undefined) {
        return usageError('nothing to edit: give -s SCHEDULER, -l ADDRESS[:PORT] or -P PORT');
      }
      return edit({ op: command, ident: id, scheduler, listen });
    }
    case 'delete-service':
      return edit({ op: command, ident: id });
    case 'flush':
      return edit({ op: 'flush' });
    case 'list': {
      if (values.has('stats') && values.has('rate'))
        return usageError("The option 'rate' conflicts with the 'stats' option in the 'list' command");
      const stats: StatsMode | null = values.has('stats') ? 'stats' : values.has('rate') ? 'rate' : null;
      return run({ kind: 'list', ident, numeric: values.has('numeric'), stats });
    }
    case 'add-server':
    case 'edit-server':
    case 'delete-server': {
      const address = server();
      if (typeof address !== 'string') return address;
      if (command === 'delete-server') return edit({ op: command, ident: id, server: address });
      // As in KTCPVS, -e without -w sets weight 1.
      return edit({ op: command, ident: id, server: address, weight: weight ?? 1 });
    }
    case 'add-rule':
    case 'del-rule': {
      const address = server();
      if (typeof address !== 'string') return address;
      const pattern = values.get('pattern') as string;
      const re = compileRegex(pattern);
      if (!re.ok) return usageError(`illegal pattern: ${re.message}`);
      if (command === 'del-rule') return edit({ op: command, ident: id, pattern, server: address });
      let match: number | undefined;
      if (values.has('match')) {
        const n = parseInteger(values.get('match') as string, 0, MAX_SUBMATCH);
        if (n === null) return usageError(`illegal match number '${values.get('match')}': must be an integer 0..${MAX_SUBMATCH}`);
        match = n;
      }
      return edit({ op: command, ident: id, pattern, server: address, match });
    }
    case 'start':
    case 'stop':
      return run({ kind: command, ident });
  }
}

/** -l ADDRESS[:PORT] and -P PORT into one HOST:PORT; undefined when neither is given. */
function listenAddress(values: Map<OptionName, string>): string | ParseResult | undefined {
  const listen = values.get('listen');
  const portText = values.get('port');
  let port: number | undefined;
  if (portText !== undefined) {
    const p = parsePort(portText);
    if (p === null) return usageError(`illegal service port '${portText}': must be 1..65535`);
    port = p;
  }
  if (listen === undefined) {
    return port === undefined ? undefined : `${DEFAULT_LISTEN.host}:${port}`;
  }
  // With a port (HOST:PORT, [V6]:PORT) it is whole; else the port is -P's or KTCPVS's 8080.
  const hasPort = listen.startsWith('[') ? /\]:[^:]*$/.test(listen) : listen.includes(':');
  if (hasPort) {
    if (port !== undefined) return usageError(`-P ${port} conflicts with the port in -l ${listen}`);
    const parsed = parseEndpoint(listen, true);
    return parsed.ok ? listen : usageError(`illegal listen address: ${parsed.message}`);
  }
  const whole = `${listen}:${port ?? DEFAULT_LISTEN.port}`;
  const parsed = parseEndpoint(whole, true);
  return parsed.ok ? whole : usageError(`illegal listen address: ${parsed.message}`);
}

// ---- tcpvs-native syntax ----

export const NATIVE_USAGE: Readonly<Record<string, string>> = {
  show: 'show [SERVICE]',
  'group add': 'group add SERVICE GROUP [scheduler S]',
  'group del': 'group del SERVICE GROUP',
  'server add': 'server add SERVICE GROUP HOST:PORT [weight W]',
  'server del': 'server del SERVICE GROUP HOST:PORT',
  'server weight': 'server weight SERVICE GROUP HOST:PORT W',
  'server drain': 'server drain SERVICE GROUP HOST:PORT',
  'route add': 'route add SERVICE NAME MATCHER... to GROUP [before ROUTE]',
  'route del': 'route del SERVICE NAME',
  'default set': 'default set SERVICE GROUP',
  'default del': 'default del SERVICE',
};

function parseNative(argv: readonly string[]): ParseResult {
  const [noun, verb] = argv;
  if (noun === 'help') return { kind: 'help' };
  if (noun === 'show') {
    if (argv.length > 2) return usageError(`unexpected '${argv[2]}': usage: ${PROGRAM} ${NATIVE_USAGE.show}`);
    return { kind: 'run', invocation: { kind: 'show', service: argv[1] } };
  }
  const key = `${noun} ${verb ?? ''}`;
  const usage = NATIVE_USAGE[key];
  if (usage === undefined) {
    const verbs = Object.keys(NATIVE_USAGE)
      .filter((k) => k.startsWith(`${noun} `))
      .map((k) => k.split(' ')[1]);
    return usageError(
      `${verb === undefined ? 'missing' : `unknown`} ${noun} command${verb === undefined ? '' : ` '${verb}'`} (${verbs.join(', ')}): usage: ${PROGRAM} ${NATIVE_USAGE[`${noun} ${verbs[0]}`]}`,
    );
  }
  const args = argv.slice(2);
  const fail = (why: string): ParseResult => usageError(`${key}: ${why}: usage: ${PROGRAM} ${usage}`);
  const arity = (min: number, max: number): ParseResult | null => {
    if (args.length < min) return fail('missing argument');
    if (args.length > max) return fail(`unexpected '${args[max]}'`);
    return null;
  };
  const edit = (command: EditCommand): ParseResult => ({ kind: 'run', invocation: { kind: 'edit', command, name: key } });
  const newName = (text: string, what: string): string | null => {
    const bad = checkName(text);
    return bad === null ? null : `bad ${what} name: ${bad}`;
  };
  const address = (text: string): string | null => {
    const parsed = parseEndpoint(text);
    return parsed.ok ? null : parsed.message;
  };
  const weightOf = (text: string | undefined): number | string => {
    const n = text === undefined ? null : parseInteger(text, 0, MAX_WEIGHT);
    return n ?? `bad weight '${text ?? ''}': must be an integer 0..${MAX_WEIGHT} (0 = quiescent)`;
  };

  switch (key) {
    case 'group add': {
      const bad =
        arity(2, 4) ??
        (args.length === 3 || (args.length === 4 && args[2] !== 'scheduler') ? fail(`expected 'scheduler S' after the group name`) : null);
      if (bad !== null) return bad;
      const why = newName(args[1], 'group');
      if (why !== null) return fail(why);
      return edit({ op: 'group-add', service: args[0], group: args[1], scheduler: args[3] });
    }
    case 'group del':
      return arity(2, 2) ?? edit({ op: 'group-del', service: args[0], group: args[1] });
    case 'server add':
    case 'server del':
    case 'server weight':
    case 'server drain': {
      const max = verb === 'add' ? 5 : verb === 'weight' ? 4 : 3;
      const bad = arity(verb === 'weight' ? 4 : 3, max);
      if (bad !== null) return bad;
      const why = address(args[2]);
      if (why !== null) return fail(why);
      const [service, group, server] = args;
      if (verb === 'del') return edit({ op: 'server-del', service, group, server });
      if (verb === 'drain') return edit({ op: 'server-weight', service, group, server, weight: 0 });
      if (verb === 'weight') {
        const w = weightOf(args[3]);
        return typeof w === 'string' ? fail(w) : edit({ op: 'server-weight', service, group, server, weight: w });
      }
      if (args.length === 3) return edit({ op: 'server-add', service, group, server, weight: 1 });
      if (args[3] !== 'weight') return fail(`unexpected '${args[3]}'`);
      const w = weightOf(args[4]);
      return typeof w === 'string' ? fail(w) : edit({ op: 'server-add', service, group, server, weight: w });
    }
    case 'route add':
      return parseRouteAdd(args, fail, edit);
    case 'route del':
      return arity(2, 2) ?? edit({ op: 'route-del', service: args[0], name: args[1] });
    case 'default set':
      return arity(2, 2) ?? edit({ op: 'default', service: args[0], group: args[1] });
    case 'default del':
      return arity(1, 1) ?? edit({ op: 'default', service: args[0], group: null });
  }
  return fail('unknown command');
}

/** `SERVICE NAME MATCHER... to GROUP [before ROUTE]`: the last `to` that ends the line or precedes `before`. */
function parseRouteAdd(args: string[], fail: (why: string) => ParseResult, edit: (c: EditCommand) => ParseResult): ParseResult {
  if (args.length < 2) return fail('missing argument');
  const [service, name] = args;
  const bad = checkName(name);
  if (bad !== null) return fail(`bad route name: ${bad}`);
  let to = -1;
  let before: string | undefined;
  const n = args.length;
  if (n >= 6 && args[n - 4] === 'to' && args[n - 2] === 'before') {
    to = n - 4;
    before = args[n - 1];
  } else if (n >= 4 && args[n - 2] === 'to') to = n - 2;
  if (to < 2) return fail(n > 2 && args[n - 1] === 'to' ? "missing group name after 'to'" : "missing 'to GROUP' at the end");
  if (to === 2) return fail(`route '${name}' has no matchers (use 'default set SERVICE GROUP' for a catch-all)`);
  const matchers = args.slice(2, to);
  const tokens: Token[] = matchers.map((text) => ({ text, quoted: false }));
  for (let i = 0; i < tokens.length; ) {
    const result = parseMatcher(tokens, i, tokens.length);
    if (result.problem !== null) return fail(`${result.problem.field}: ${result.problem.message}`);
    i = result.next;
  }
  return edit({ op: 'route-add', service, name, matchers, group: args[to + 1], before });
}

export function usage(version: string): string {
  const p = PROGRAM;
  return `${p} ${version} (tcpvs; KTCPVS tcpvsadm(8) syntax, against the running tcpvs)
Usage:
  ${p} -A|E -i ident [-s scheduler] [-P port] [-l address[:port]]
  ${p} -D -i ident
  ${p} -F
  ${p} -a|e -i ident -r server-address [-w weight]
  ${p} -d -i ident -r server-address
  ${p} --add-rule -i ident -p pattern -r server-address [-m match-num]
  ${p} --del-rule -i ident -p pattern -r server-address
  ${p} -L [-i ident] [-n] [--stats|--rate]
  ${p} -f config-file
  ${p} --start|stop [-i ident]
  ${p} -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --flush           -F        flush the whole table
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --add-rule                  add rule into virtual service
  --del-rule                  del rule from virtual service
  --list            -L        list the table
  --load-configfile -f        load a config file (KTCPVS or tcpvs native; replaces everything)
  --start                     start the virtual services
  --stop                      stop the virtual services (definitions are kept)
  --help            -h        display this help message

Options:
  --ident        -i identity          service identity (a tcpvs service name)
  --scheduler    -s scheduler         http, hhttp, chttp, phttp, or any tcpvs scheduler
                                      (rr, wlc, mh, ...); the default scheduler is wlc.
  --port         -P port              service port number (on 0.0.0.0; default 8080)
  --listen       -l address[:port]    listen address
  --real-server  -r server-address    server-address is host:port
  --weight       -w weight            capacity of real server (0..65535, default 1)
  --pattern      -p pattern           regular expression on the request target
  --match        -m match-num         match number to hash (hhttp only)
  --numeric      -n                   numeric output (tcpvs prints addresses as configured)
  --stats                             -L: request and connection counters
  --rate                              -L: rates (per second)
  --admin PATH                        the running tcpvs's admin socket
                                      (default: $TCPVS_ADMIN, else /run/tcpvs/admin.sock
                                      as root, $XDG_RUNTIME_DIR/tcpvs.sock otherwise)

tcpvs commands (services, groups and routes as in the native config):
${Object.values(NATIVE_USAGE)
  .map((u) => `  ${p} ${u}`)
  .join('\n')}
  MATCHER is as in a config's route line: path P, prefix P, path-regex RE, url-regex RE,
  host NAME, method M,.., header|cookie|query NAME present|= VALUE|~ RE.
`;
}
