/**
 * Real servers for the destination tests, on loopback ports, in temporary folders, stopped by
 * the test: Mosquitto (Debian `mosquitto`, persistence on) and PostgreSQL (Debian `postgresql`,
 * run as the `postgres` user when the tests run as root, because PostgreSQL refuses root).
 * A missing binary is an error naming the package to install, never a skipped test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../helpers.js';

export const MOSQUITTO_BIN = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';
/** Debian installs each PostgreSQL major under /usr/lib/postgresql/<major>/bin: take the newest. */
function debianPostgresBinDir(): string {
  const majors = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : [];
  const found = majors.find((major) => existsSync(`/usr/lib/postgresql/${major}/bin/pg_ctl`));
  return `/usr/lib/postgresql/${found ?? '15'}/bin`;
}
export const POSTGRES_BIN_DIR = process.env.POSTGRES_BIN_DIR ?? debianPostgresBinDir();

function requireBinary(path: string, aptPackage: string): void {
  if (!existsSync(path)) throw new Error(`${path} not found: these tests need Debian's ${aptPackage} package (apt-get install -y ${aptPackage})`);
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function portOpen(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

const isRoot = process.getuid?.() === 0;

export interface MosquittoOptions {
  /** Default true; false: every connection without valid credentials is refused. */
  anonymous?: boolean;
  /** user -> password (mosquitto_passwd). */
  users?: Record<string, string>;
  /** TLS listener with a throw-away CA (openssl). */
  tls?: boolean;
}

function run(command: string, args: string[], aptPackage: string): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`${command} not found: these tests need Debian's ${aptPackage} package (apt-get install -y ${aptPackage})`);
  }
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
}

/** A CA and a broker certificate for 127.0.0.1 in `dir`; returns the CA's path. */
function makeTestCertificates(dir: string): string {
  const at = (name: string) => join(dir, name);
  run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '2', '-subj', '/CN=residuum-test-ca'], 'openssl');
  run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=127.0.0.1'], 'openssl');
  writeFileSync(at('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run('openssl', ['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('server.pem'), '-days', '2', '-extfile', at('san.ext')], 'openssl');
  return at('ca.pem');
}

export class Mosquitto {
  private child: ChildProcess | null = null;
  readonly dir: string;
  readonly url: string;
  log = '';

  /** With `tls`: the CA certificate that signed the broker's (CN and SAN 127.0.0.1). */
  readonly caFile: string | null = null;

  private constructor(
    readonly port: number,
    options: MosquittoOptions,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'residuum-mosquitto-'));
    this.url = `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`;
    const extra: string[] = [];
    if (options.users) {
      const file = join(this.dir, 'passwd');
      for (const [user, password] of Object.entries(options.users)) {
        run('mosquitto_passwd', ['-b', ...(existsSync(file) ? [] : ['-c']), file, user, password], 'mosquitto');
      }
      extra.push(`password_file ${file}`);
    }
    if (options.tls) {
      this.caFile = makeTestCertificates(this.dir);
      extra.push(`cafile ${this.caFile}`, `certfile ${join(this.dir, 'server.pem')}`, `keyfile ${join(this.dir, 'server.key')}`);
    }
    writeFileSync(
      join(this.dir, 'mosquitto.conf'),
      [
        `listener ${port} 127.0.0.1`,
        ...extra,
        `allow_anonymous ${options.anonymous ?? true}`,
        'persistence true',
        `persistence_location ${this.dir}/`,
        'autosave_interval 1',
        'max_queued_messages 0',
        'max_inflight_messages 0',
        'log_dest stdout',
      ].join('\n') + '\n',
    );
    // As root, mosquitto drops to its own user: give it the folder and its files.
    if (isRoot) {
      const uid = Number(spawnSync('id', ['-u', 'mosquitto']).stdout.toString().trim());
      const gid = Number(spawnSync('id', ['-g', 'mosquitto']).stdout.toString().trim());
      for (const name of ['', ...readdirSync(this.dir)]) chownSync(join(this.dir, name), uid, gid);
      chmodSync(join(this.dir, 'mosquitto.conf'), 0o644);
    }
  }

  static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
    requireBinary(MOSQUITTO_BIN, 'mosquitto');
    const broker = new Mosquitto(await freePort(), options);
    await broker.resume();
    return broker;
  }

  /** Starts (again) on the same port with the same persistence file. */
  async resume(): Promise<void> {
    const child = spawn(MOSQUITTO_BIN, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (this.log = (this.log + chunk.toString()).slice(-8000)));
    child.stderr!.on('data', (chunk: Buffer) => (this.log = (this.log + chunk.toString()).slice(-8000)));
    this.child = child;
    await waitFor(() => portOpen(this.port), 10_000, `mosquitto on port ${this.port}\n${this.log}`);
  }

  /** SIGTERM: mosquitto saves its persistence file and exits. */
  async pause(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    this.child = null;
  }

  async stop(): Promise<void> {
    await this.pause();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class Postgres {
  readonly dir: string;
  readonly url: string;
  readonly password = 'residuum-test';

  private constructor(readonly port: number) {
    this.dir = mkdtempSync(join(tmpdir(), 'residuum-pg-'));
    this.url = `postgres://postgres:${this.password}@127.0.0.1:${port}/postgres`;
  }

  private run(binary: string, args: string[]): void {
    const command = join(POSTGRES_BIN_DIR, binary);
    // PostgreSQL refuses to run as root: run its tools as the postgres user.
    const result = isRoot ? spawnSync('runuser', ['-u', 'postgres', '--', command, ...args], { encoding: 'utf8' }) : spawnSync(command, args, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${binary} ${args.join(' ')} failed (${result.status}): ${result.stderr}${result.stdout}`);
  }

  static async start(): Promise<Postgres> {
    requireBinary(join(POSTGRES_BIN_DIR, 'pg_ctl'), 'postgresql');
    const server = new Postgres(await freePort());
    const data = join(server.dir, 'data');
    mkdirSync(data);
    writeFileSync(join(server.dir, 'pwfile'), server.password + '\n');
    if (isRoot) {
      const uid = Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim());
      const gid = Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim());
      for (const path of [server.dir, data, join(server.dir, 'pwfile')]) chownSync(path, uid, gid);
    }
    server.run('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${join(server.dir, 'pwfile')}`, '-E', 'UTF8', '--no-sync']);
    await server.resume();
    return server;
  }

  async resume(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
    this.run('pg_ctl', ['-D', join(this.dir, 'data'), '-o', options, '-l', join(this.dir, 'log'), '-w', '-t', '30', 'start']);
  }

  /** Fast shutdown: open connections are cut, like a server going away. */
  async pause(): Promise<void> {
    this.run('pg_ctl', ['-D', join(this.dir, 'data'), '-m', 'fast', '-w', 'stop']);
  }

  async stop(): Promise<void> {
    try {
      await this.pause();
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
