// A throwaway Redis server for the broker tests: Debian's redis-server on 127.0.0.1 at a free port, no persistence,
// stopped (and restartable on the same port) by the test. .ci/run installs redis-server when missing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';

export function findRedis(): { bin: string } | { why: string } {
  for (const bin of ['/usr/bin/redis-server', 'redis-server', 'valkey-server']) {
    if (spawnSync(bin, ['--version'], { encoding: 'utf8' }).status === 0) return { bin };
  }
  return { why: 'no redis-server (Debian: apt-get install redis-server)' };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export class TestRedis {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly bin: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(bin: string): Promise<TestRedis> {
    const r = new TestRedis(bin, await freePort());
    await r.restart();
    return r;
  }

  /** (Re)start the server on the same port; resolves once it accepts connections. */
  async restart(): Promise<void> {
    this.proc = spawn(this.bin, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const c = net.connect(this.port, '127.0.0.1', () => (c.end(), resolve(true)));
        c.on('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not start on port ${this.port}`);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }
}
