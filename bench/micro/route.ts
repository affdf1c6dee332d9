// Routing a request by the rule table (lib/route/router.ts): a prefix rule, a
// host rule and a regex rule, and the default; each after the data path's
// check of target and Host (lib/route/normalise.ts), on a clean path and on
// one that normalisation rewrites.
import { RequestView } from '../../lib/route/request-view.ts';
import { Router } from '../../lib/route/router.ts';
import { parseConfigText } from '../../lib/config/load.ts';
import { measure } from './harness.ts';

const config = parseConfigText(
  [
    'log level silent',
    'service web',
    '  listen 127.0.0.1:0',
    '  group static',
    '    server 10.0.0.1:80',
    '  group images',
    '    server 10.0.0.2:80',
    '  group api',
    '    server 10.0.0.3:80',
    '  route img prefix /images/ to images',
    '  route api host api.example to api',
    '  route js path-regex "\\\\.js$" to static',
    '  default static',
    '',
  ].join('\n'),
  'micro.tcpvs',
);
const spec = config.services[0];
const router = new Router(spec.rules, spec.defaultGroup, spec.groups);
const view = new RequestView();
const headers = ['Host', 'shop.example', 'Accept', '*/*'];

measure([
  {
    name: 'route: first rule (prefix)',
    run: () => {
      view.reset('GET', '/images/logo.png', headers, '127.0.0.1');
      view.check('shop.example');
      return router.route(view);
    },
  },
  {
    name: 'route: default after 3 rules (prefix, host, regex)',
    run: () => {
      view.reset('GET', '/index.html', headers, '127.0.0.1');
      view.check('shop.example');
      return router.route(view);
    },
  },
  {
    name: 'route: a path that normalises (/static/../images/%6cogo.png)',
    run: () => {
      view.reset('GET', '/static/../images/%6cogo.png', headers, '127.0.0.1');
      view.check('shop.example');
      return router.route(view);
    },
  },
]);
