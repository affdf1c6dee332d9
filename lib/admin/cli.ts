// What the admin-socket CLIs (tcpvsadm, tcpvs ipvsadm) share: the --admin
// flag and the words for a connection that failed.

/** Pulls `--admin PATH` / `--admin=PATH` out of argv; the rest is the command's own. */
export function takeAdminFlag(argv: readonly string[]): { args: string[]; admin: string | undefined } | { error: string } {
  const args: string[] = [];
  let admin: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') {
      args.push(...argv.slice(i));
      break;
    }
    if (word === '--admin') {
      if (i + 1 >= argv.length) return { error: '--admin: missing argument' };
      admin = argv[++i];
    } else if (word.startsWith('--admin=')) admin = word.slice('--admin='.length);
    else args.push(word);
  }
  if (admin === '') return { error: '--admin: empty path' };
  return { args, admin };
}

/** Why connecting to the admin socket failed, in words; `notRunning` when nothing listens there. */
export function adminConnectFailure(path: string, err: unknown): { notRunning: boolean; message: string } {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENOTDIR') {
    return { notRunning: true, message: `tcpvs is not running (no admin socket at ${path}); start it, or pass --admin PATH` };
  }
  if (code === 'EACCES' || code === 'EPERM')
    return { notRunning: false, message: `permission denied on admin socket ${path} (it is 0600: run as the user that runs tcpvs)` };
  return { notRunning: false, message: `cannot connect to admin socket ${path}: ${(err as Error).message}` };
}
