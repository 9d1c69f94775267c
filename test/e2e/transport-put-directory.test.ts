// Regression: SshTransport.put* installed the uploaded temp file with `mv -f -- TMP DEST`; when
// DEST was an existing directory, mv moved the file INTO it and the put reported success with the
// right sha256 although nothing was written at DEST. Now `mv -f -T` refuses, like LocalTransport.
// (The etcd playbooks were safe regardless: distribute re-hashes DEST on the host.)
// Lab: 1 host on 127.0.0.91, no etcd.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LocalTransport } from '../../engine/transports/local.js';
import { SshTransport } from '../../engine/transports/ssh/transport.js';
import { hostExec, labDown, type Lab } from '../lab/lab.js';
import { freshLab, labDir } from './playbook-helpers.js';
import { labSsh } from '../support/lab.js';

describe('a put onto an existing directory is refused (regression: SSH moved the file into it)', function () {
  this.timeout(60_000);
  let lab: Lab;

  before(async function () {
    lab = await freshLab('put-directory', { hosts: 1, etcd: false, firstOctet: 91 });
  });

  after(async function () {
    await labDown(labDir('put-directory'));
  });

  it('LocalTransport refuses it', async function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'runbook-put-dir-'));
    try {
      mkdirSync(path.join(dir, 'dest.db'));
      await assert.rejects(new LocalTransport().putContent('snapshot bytes', path.join(dir, 'dest.db')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SshTransport refuses it too (fails today: the file lands inside the directory and the put reports success)', async function () {
    const h = lab.hosts[0];
    assert.ok(h);
    await hostExec(lab, h.name, 'mkdir -p /root/dest.db');
    const t = new SshTransport(h.name, h.address, labSsh(lab));
    try {
      let put: unknown;
      try {
        put = await t.putContent('snapshot bytes', '/root/dest.db');
      } catch (e) {
        put = e;
      }
      const inside = (await hostExec(lab, h.name, 'ls -A /root/dest.db')).stdout.trim();
      assert.ok(put instanceof Error, `put reported success (${JSON.stringify(put)}); /root/dest.db now contains: ${inside}`);
    } finally {
      await t.close();
    }
  });
});
