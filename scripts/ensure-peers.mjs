// Installs the independent peers the interop tests drive (Debian packages), when they are missing.
// The suite never skips a peer: if this cannot install one, it fails here with the reason.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const missing = [];
const py = spawnSync('/usr/bin/python3', ['-c', 'import websockets'], { stdio: 'ignore' });
if (py.status !== 0) missing.push('python3-websockets');
if (!existsSync('/usr/bin/chromium')) missing.push('chromium');
// @wskit/redis's tests start their own servers and cluster (redis-server pulls in redis-cli via redis-tools).
if (!existsSync('/usr/bin/redis-server') || !existsSync('/usr/bin/redis-cli')) missing.push('redis-server');

if (missing.length > 0) {
  console.log(`ensure-peers: installing ${missing.join(', ')}`);
  const sudo = process.getuid && process.getuid() !== 0 ? ['sudo'] : [];
  const run = (args) => {
    const cmd = [...sudo, ...args];
    execFileSync(cmd[0], cmd.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  };
  run(['apt-get', 'update', '-q']);
  run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...missing]);
}
console.log('ensure-peers: python3-websockets, chromium and redis-server present');
