import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ensureModel, freePort, readRssKiB } from '../../load/lib/server.ts';

describe('server helpers', () => {
  it("reads this process's RSS from /proc in KiB, close to what Node reports", () => {
    const kib = readRssKiB(process.pid);
    const nodeKib = process.memoryUsage().rss / 1024;
    expect(kib).toBeGreaterThan(10 * 1024);
    expect(Math.abs(kib - nodeKib) / nodeKib).toBeLessThan(0.25);
    expect(() => readRssKiB(2 ** 22 + 12345)).toThrow(/ENOENT/);
  });

  it('finds a port on 127.0.0.1 that can then be listened on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('refuses a missing model other than the default instead of building it', async () => {
    await expect(ensureModel('test/.tmp/no-such-model.onnx')).rejects.toThrow(
      'Model test/.tmp/no-such-model.onnx (or its manifest) does not exist',
    );
  });
});
