/** `serve --config line.yaml`: every bad value is refused with its key named. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadLineConfig, validateLineConfig } from '../src/config.js';
import { tempDir } from './helpers.js';

function refusal(document: unknown): string {
  try {
    validateLineConfig(document);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('line configuration', () => {
  it('accepts a full file and defaults the webhook events', () => {
    const config = validateLineConfig({
      line: 'press-3',
      station: 'st-1',
      port: 9000,
      watch: false,
      mqtt: { url: 'mqtts://broker.plant:8883', username: 'line3', password: 'x', rejectUnauthorized: true },
      webhook: { url: 'https://mes.plant/hooks/residuum', secret: 's' },
      central: { url: 'postgres://residuum@db.plant/plant' },
      outbox: { diskBudgetMb: 64 },
    });
    expect(config.port).toBe(9000);
    expect(config.watch).toBe(false);
    expect(config.webhook?.events).toEqual(['anomaly', 'model']);
  });

  it('names an unknown key, also inside a section', () => {
    expect(refusal({ prot: 8080 })).toMatch(/^prot: unknown key \(known: line, model, port/);
    expect(refusal({ mqtt: { url: 'mqtt://b', qos: 2 } })).toMatch(/^mqtt\.qos: unknown key \(known under mqtt: url, username/);
  });

  it('names a malformed or wrong-scheme URL', () => {
    expect(refusal({ mqtt: { url: 'broker:1883 oops' } })).toMatch(/^mqtt\.url: (not a valid URL|the scheme must be)/);
    expect(refusal({ webhook: { url: 'not a url' } })).toMatch(/^webhook\.url: not a valid URL/);
    expect(refusal({ central: { url: 'mysql://db/plant' } })).toMatch(/^central\.url: the scheme must be postgres: or postgresql:/);
    expect(refusal({ central: {} })).toMatch(/^central\.url: is required/);
  });

  it('names wrong types and values', () => {
    expect(refusal({ port: 'eighty' })).toMatch(/^port: must be a whole number >= 0/);
    expect(refusal({ webhook: { url: 'http://x', events: ['result', 'everything'] } })).toMatch(/^webhook\.events\[1\]: must be one of result, anomaly, model/);
    expect(refusal({ heatmaps: 'some' })).toMatch(/^heatmaps: must be one of all, anomalous, none/);
    expect(refusal(['a list'])).toMatch(/must be a mapping/);
  });

  it('reads YAML files and names the file in errors', () => {
    const dir = tempDir('config');
    try {
      const good = join(dir.dir, 'line.yaml');
      writeFileSync(good, 'line: press-3\nmqtt:\n  url: mqtt://127.0.0.1:1883\n');
      expect(loadLineConfig(good)).toEqual({ line: 'press-3', mqtt: { url: 'mqtt://127.0.0.1:1883' } });
      const bad = join(dir.dir, 'bad.yaml');
      writeFileSync(bad, 'mqtt:\n  url: mqtt://127.0.0.1:1883\n  user: x\n');
      expect(() => loadLineConfig(bad)).toThrow(/^mqtt\.user: unknown key .* \(in .*bad\.yaml\)$/);
      const broken = join(dir.dir, 'broken.yaml');
      writeFileSync(broken, 'mqtt: [unclosed\n');
      expect(() => loadLineConfig(broken)).toThrow(/^--config: .*broken\.yaml is not valid YAML/);
      expect(() => loadLineConfig(join(dir.dir, 'missing.yaml'))).toThrow(/^--config: cannot read .*: file not found/);
    } finally {
      dir.remove();
    }
  });
});
