// tap runs this before the test files (package.json "tap.before"): with a
// Node that cannot run TypeScript (the system's, when node_modules/.bin is
// not on PATH), every test would fail with ERR_UNKNOWN_FILE_EXTENSION; say
// what to do instead.
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(
    `tap is running on Node ${process.version}, which cannot run tcpvs's TypeScript tests.\n` +
      'Run them on the pinned Node: npm test, or one file with npx tap --disable-coverage test/x.test.ts ' +
      '(npx puts node_modules/.bin, and its node, first on PATH).',
  );
  process.exit(1);
}
