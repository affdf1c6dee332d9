// A group's `key` (lib/route/hash-key.ts): each kind reads its part of the
// request, undefined when the request has none (the scheduler then falls
// back; null never leaks through), and the default when no key is set.
import t from 'tap';
import { compileKey } from '../../lib/route/hash-key.ts';
import { RequestView } from '../../lib/route/request-view.ts';

function request(url: string, headers: string[] = [], client = '192.0.2.7'): RequestView {
  const view = new RequestView();
  view.reset('GET', url, headers, client);
  return view;
}

const full = request('/img/../a.png?v=1&w=2', ['Host', 'Cache.Example.:8080', 'X-User', 'alice', 'Cookie', 'sid=s1; theme=dark']);
const bare = request('/b', [], '2001:db8::1');

t.test('path: the normalised path, without the query', async (t) => {
  const key = compileKey({ kind: 'path' }, undefined);
  t.equal(key(full, 'ignored'), '/a.png', 'the submatch is ignored');
  t.equal(key(bare, undefined), '/b');
  t.equal(key(request('http://h'), undefined), '/', 'absolute form, empty path');
});

t.test('path-query: the normalised path and the query as sent', async (t) => {
  const key = compileKey({ kind: 'path-query' }, undefined);
  t.equal(key(full, undefined), '/a.png?v=1&w=2');
  t.equal(key(bare, undefined), '/b');
  t.equal(key(request('/b?'), undefined), '/b?', 'an empty query is part of the target');
  t.not(key(request('/b?x=1'), undefined), key(request('/b?x=2'), undefined), 'another query, another key');
});

t.test('host: lower-case, no port, no trailing dot; undefined without one', async (t) => {
  const key = compileKey({ kind: 'host' }, undefined);
  t.equal(key(full, undefined), 'cache.example');
  t.equal(key(bare, undefined), undefined, 'no Host: undefined, not null');
  t.equal(key(request('/', ['Host', 'bad host']), undefined), undefined, 'an invalid Host');
  t.equal(key(request('http://Origin.Example/x', ['Host', 'other']), undefined), 'origin.example', "the target's authority");
});

t.test('client: the client address as the socket reported it', async (t) => {
  const key = compileKey({ kind: 'client' }, undefined);
  t.equal(key(full, undefined), '192.0.2.7');
  t.equal(key(bare, undefined), '2001:db8::1');
});

t.test('header: the first field of that name, whatever case the config used', async (t) => {
  const key = compileKey({ kind: 'header', name: 'X-User' }, undefined);
  t.equal(key(full, undefined), 'alice');
  t.equal(key(bare, undefined), undefined);
  t.equal(key(request('/', ['x-user', '', 'X-User', 'bob']), undefined), '', 'an empty first value is still the value');
  t.equal(compileKey({ kind: 'header', name: 'host' }, undefined)(full, undefined), 'Cache.Example.:8080', 'a header key is raw');
});

t.test('cookie: that cookie, case-sensitive name', async (t) => {
  t.equal(compileKey({ kind: 'cookie', name: 'sid' }, undefined)(full, undefined), 's1');
  t.equal(compileKey({ kind: 'cookie', name: 'theme' }, undefined)(full, undefined), 'dark');
  t.equal(compileKey({ kind: 'cookie', name: 'SID' }, undefined)(full, undefined), undefined);
  t.equal(compileKey({ kind: 'cookie', name: 'sid' }, undefined)(bare, undefined), undefined);
});

t.test('submatch: what the router captured, whatever the request holds', async (t) => {
  const key = compileKey({ kind: 'submatch', index: 1 }, 1);
  t.equal(key(full, 'alice'), 'alice');
  t.equal(key(full, undefined), undefined, 'no capture: no key (not the path)');
  t.equal(key(full, ''), '', 'an empty capture is a key');
});

t.test('no key set: the path, or the submatch when the group hashes on one', async (t) => {
  const byDefault = compileKey(undefined, undefined);
  t.equal(byDefault(full, 'captured'), '/a.png');
  const bySubmatch = compileKey(undefined, 0);
  t.equal(bySubmatch(full, 'captured'), 'captured', 'hashSubmatch 0 counts as set');
  t.equal(bySubmatch(full, undefined), undefined);
  t.equal(compileKey({ kind: 'path' }, 2)(full, 'captured'), '/a.png', 'an explicit key wins over hashSubmatch');
});
