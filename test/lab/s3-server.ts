// The lab's S3 server: s3rver (npm @20minutes/s3rver, the S3 REST API served from a directory,
// multipart included) as a child process on 127.0.0.1, so a test can SIGKILL it mid-upload. It is a
// real S3-protocol server driven by the real AWS SDK; two things it does not do that AWS does:
// - it keeps no SHA-256 checksums (HEAD returns none), so uploads are verified by the ETag it
//   computes from the bytes it received (MD5 — of the whole body even for multipart, where AWS
//   hashes the parts' MD5s) and by the sha256 in the object's metadata;
// - it canonicalizes bucket-level paths without the trailing slash the SDK signs ("/b/" vs "/b"),
//   so it runs with allowMismatchedSignatures (object-level requests are signed and checked alike).
// Started by PID, stopped by PID; data lives in the directory given.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface S3Lab {
  endpoint: string;
  port: number;
  bucket: string;
  dir: string;
  /** Credentials the lab server takes (s3rver's fixed pair). */
  accessKeyId: string;
  secretAccessKey: string;
  pid: number;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./s3rver-child.js', import.meta.url));

/** Start s3rver serving `dir` with `bucket` on 127.0.0.1 (port 0: a free one). */
export async function startS3(dir: string, bucket: string, port = 0): Promise<S3Lab> {
  mkdirSync(dir, { recursive: true });
  const child: ChildProcess = spawn(process.execPath, [CHILD, dir, bucket, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const listening = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /^listening (\d+)$/m.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited (${String(code)}) before listening`)));
  });
  const pid = child.pid ?? 0;
  return {
    endpoint: `http://127.0.0.1:${listening}`,
    port: listening,
    bucket,
    dir,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    pid,
    stop: (signal: NodeJS.Signals = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}
