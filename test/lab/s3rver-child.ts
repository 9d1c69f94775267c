// Child process of test/lab/s3-server.ts: argv DIR BUCKET PORT; prints "listening PORT" when up.
import S3rver from '@20minutes/s3rver';

const [dir, bucket, port] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port ?? 0),
  directory: dir ?? '.',
  silent: true,
  configureBuckets: [{ name: bucket ?? 'backups' }],
  allowMismatchedSignatures: true,
});
const { port: listening } = await server.run();
process.stdout.write(`listening ${listening}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
