// What `npm test` needs besides `npm ci`, defined once: each entry is a check and, for
// what Debian provides, the package that satisfies it. `scripts/test.mjs` provisions from
// this table before any test runs; add an entry here when a test starts needing a new
// component.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

/** Whether `name` is an executable on PATH (or, when it contains a slash, that file). */
export function onPath(name, env = process.env) {
  const candidates = name.includes('/') ? [name] : (env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, name));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function python3Imports(...modules) {
  return () => spawnSync('/usr/bin/python3', ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0;
}

/** Debian's PostgreSQL server: /usr/lib/postgresql/<major>/bin/{initdb,pg_ctl}, or POSTGRES_BIN_DIR. */
function postgresBinaries() {
  const dirs = process.env.POSTGRES_BIN_DIR
    ? [process.env.POSTGRES_BIN_DIR]
    : existsSync('/usr/lib/postgresql')
      ? readdirSync('/usr/lib/postgresql').map((major) => join('/usr/lib/postgresql', major, 'bin'))
      : [];
  return dirs.some((dir) => onPath(join(dir, 'pg_ctl')) && onPath(join(dir, 'initdb')));
}

/**
 * @typedef {object} Requirement
 * @property {string} [id]        for entries looked up elsewhere (e.g. 'shared-data' by vitest's global setup)
 * @property {string} name        what is missing, as the message says it
 * @property {string} neededBy    which tests need it
 * @property {() => boolean} check
 * @property {string[]} [debianPackages]  what installs it; absent: cannot be installed by us
 * @property {string} [howTo]     for entries without a package: how to provide it
 */

/** @type {Requirement[]} */
export const REQUIREMENTS = [
  {
    name: 'chromium (with its SwiftShader Vulkan driver)',
    neededBy: 'the dashboard browser tests and the WebGPU tests',
    check: () =>
      onPath('/usr/bin/chromium') &&
      existsSync('/usr/lib/chromium/vk_swiftshader_icd.json') &&
      existsSync('/usr/lib/chromium/libvulkan.so.1'),
    debianPackages: ['chromium'],
  },
  {
    name: 'python3-onnx and numpy',
    neededBy: 'the ONNX checker, converter and fp16 tests',
    check: python3Imports('onnx', 'numpy'),
    debianPackages: ['python3-onnx', 'python3-numpy'],
  },
  {
    name: 'python3-sklearn',
    neededBy: 'regenerating and cross-checking the metric fixtures',
    check: python3Imports('sklearn'),
    debianPackages: ['python3-sklearn'],
  },
  {
    name: 'mosquitto (MQTT broker, with mosquitto_passwd)',
    neededBy: "the line service's MQTT delivery and broker-outage tests",
    check: () => onPath(process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto') && onPath('/usr/bin/mosquitto_passwd'),
    debianPackages: ['mosquitto'],
  },
  {
    name: 'postgresql (server binaries, run as the postgres user)',
    neededBy: "the line service's central-database replication and outage tests",
    check: () => postgresBinaries() && spawnSync('id', ['-u', 'postgres'], { stdio: 'ignore' }).status === 0,
    debianPackages: ['postgresql'],
  },
  {
    name: 'openssl',
    neededBy: "the line service's MQTT-over-TLS test (a throw-away CA)",
    check: () => onPath('openssl'),
    debianPackages: ['openssl'],
  },
  {
    id: 'shared-data',
    name: `the shared data (${resolve(root, '../shared/datasets')} and ../shared/backbones)`,
    neededBy: 'the dataset, training and DFR tests',
    check: () => existsSync(resolve(root, '../shared/datasets')) && existsSync(resolve(root, '../shared/backbones')),
    howTo: 'place the workplace\'s read-only `shared` folder (datasets/, backbones/) beside the repository',
  },
];

/**
 * Decides what to do about the requirements, without side effects (tested with fake checks).
 * @param {readonly Requirement[]} requirements
 * @param {{ isRoot: boolean, hasAptGet: boolean }} host
 * @returns {{ action: 'none' } | { action: 'install', packages: string[], missing: Requirement[] } | { action: 'stop', missing: Requirement[], message: string }}
 */
export function planProvisioning(requirements, { isRoot, hasAptGet }) {
  const missing = requirements.filter((r) => !r.check());
  if (missing.length === 0) return { action: 'none' };
  const packages = [...new Set(missing.flatMap((r) => r.debianPackages ?? []))];
  const notInstallable = missing.filter((r) => !r.debianPackages?.length);
  if (notInstallable.length === 0 && isRoot && hasAptGet) return { action: 'install', packages, missing };
  return { action: 'stop', missing, message: missingMessage(missing, packages, { isRoot, hasAptGet }) };
}

/** The one message that lists what is missing and how to get it. */
export function missingMessage(missing, packages, { isRoot, hasAptGet }) {
  const lines = [`npm test cannot start: ${missing.length} requirement(s) missing, no test was run:`];
  for (const r of missing) lines.push(`  - ${r.name} (needed by ${r.neededBy})${r.howTo ? `: ${r.howTo}` : ''}`);
  if (packages.length > 0) {
    const sudo = isRoot ? '' : 'sudo ';
    const install = `${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${packages.join(' ')}`;
    lines.push(hasAptGet ? `Install with: ${install}` : `Install the Debian packages ${packages.join(' ')} (this system has no apt-get)`);
  }
  return lines.join('\n');
}

export function aptInstallCommand(packages) {
  return ['apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages]];
}
