// Where the admin socket is: --admin, then TCPVS_ADMIN, then a default by user.
import t from 'tap';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT_ADMIN_PATH, defaultAdminPath, resolveAdminPath } from '../../lib/admin/path.ts';

t.test('precedence: flag, environment, default', async (t) => {
  const env = { TCPVS_ADMIN: '/tmp/from-env.sock', XDG_RUNTIME_DIR: '/run/user/1000' };
  t.equal(resolveAdminPath({ flag: '/tmp/flag.sock', env, uid: 1000 }), '/tmp/flag.sock');
  t.equal(resolveAdminPath({ env, uid: 1000 }), '/tmp/from-env.sock');
  t.equal(
    resolveAdminPath({ flag: '', env: { ...env, TCPVS_ADMIN: '' }, uid: 1000 }),
    '/run/user/1000/tcpvs.sock',
    'empty values do not count',
  );
  t.equal(resolveAdminPath({ env: {}, uid: 0 }), ROOT_ADMIN_PATH);
});

t.test('defaults', async (t) => {
  t.equal(ROOT_ADMIN_PATH, '/run/tcpvs/admin.sock');
  t.equal(defaultAdminPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, 0), '/run/tcpvs/admin.sock', 'root ignores XDG_RUNTIME_DIR');
  t.equal(defaultAdminPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), '/run/user/1000/tcpvs.sock');
  t.equal(defaultAdminPath({}, 1000), join(tmpdir(), 'tcpvs-1000', 'admin.sock'), 'a private directory under tmp');
  t.equal(resolveAdminPath({ env: {} }), defaultAdminPath({}, process.getuid?.()), "without a uid given, the process's own");
});
