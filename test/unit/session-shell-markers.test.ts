// The session shell's end-marker splitter: output before the marker passes through unchanged,
// whatever the chunking; the status after it is reported once; nothing after it leaks.
import assert from 'node:assert/strict';
import { EndMarkerSplitter } from '../../engine/transports/session-shell.js';

const MARK = Buffer.from('\x1e\x1fRUNBOOK-END:0123456789abcdef-7:', 'latin1');

function split(chunks: Buffer[]): { out: string; status: string[] } {
  const out: Buffer[] = [];
  const status: string[] = [];
  const s = new EndMarkerSplitter(
    MARK,
    (b) => out.push(Buffer.from(b)),
    (st) => status.push(st),
  );
  for (const c of chunks) s.push(c);
  return { out: Buffer.concat(out).toString('latin1'), status };
}

/** Every way of cutting `text` into chunks of `size` bytes. */
function chunked(text: string, size: number): Buffer[] {
  const b = Buffer.from(text, 'latin1');
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

describe('session shell end markers', () => {
  const stream = `line one\nno newline at the end${MARK.toString('latin1')}42\nstray output of a background job\n`;

  for (const size of [1, 2, 3, 7, 16, 41, 1000]) {
    it(`splits output and status the same in chunks of ${size} byte(s)`, () => {
      assert.deepEqual(split(chunked(stream, size)), { out: 'line one\nno newline at the end', status: ['42'] });
    });
  }

  it('passes a lookalike prefix (another command’s tag) through as output', () => {
    const other = '\x1e\x1fRUNBOOK-END:0123456789abcdef-6:0\n';
    assert.deepEqual(split(chunked(`${other}real${MARK.toString('latin1')}0\n`, 5)), { out: `${other}real`, status: ['0'] });
  });

  it('holds back only what could still be the marker, so ordinary output is not delayed', () => {
    const out: string[] = [];
    const s = new EndMarkerSplitter(
      MARK,
      (b) => out.push(b.toString('latin1')),
      () => undefined,
    );
    s.push(Buffer.from('PID line\n'));
    assert.deepEqual(out, ['PID line\n'], 'a trailing newline is not held');
    s.push(Buffer.from('abc\x1e\x1fRUN'));
    assert.deepEqual(out, ['PID line\n', 'abc'], 'a possible marker start is held');
    s.push(Buffer.from('NING\n'));
    assert.equal(out.join(''), 'PID line\nabc\x1e\x1fRUNNING\n', 'and released once it is not the marker');
  });

  it('reports nothing until the status line is complete', () => {
    const status: string[] = [];
    const s = new EndMarkerSplitter(
      MARK,
      () => undefined,
      (st) => status.push(st),
    );
    s.push(Buffer.concat([MARK, Buffer.from('12')]));
    assert.deepEqual(status, []);
    s.push(Buffer.from('7\n'));
    assert.deepEqual(status, ['127']);
  });
});
