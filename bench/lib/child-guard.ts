// For the node child scripts: the harness holds our stdin open; when it goes
// away (even by SIGKILL, which runs no cleanup in the parent) stdin ends and we
// exit instead of lingering as an orphan holding a port.

export function exitWhenParentGoes(): void {
  const leave = (): void => process.exit(0);
  process.stdin.on('end', leave);
  process.stdin.on('close', leave);
  process.stdin.on('error', leave);
  process.stdin.resume();
  process.on('SIGTERM', leave);
  process.on('SIGINT', leave);
}

export function portArg(index: number, what: string): number {
  const port = Number(process.argv[2 + index]);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write(`usage: ${what}\n`);
    process.exit(2);
  }
  return port;
}
