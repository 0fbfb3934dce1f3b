// Vitest global setup of the projects whose tests read ../shared (datasets, backbones): when it
// is absent, the run stops before any test with one line, instead of each test failing on its own.
// The check itself is the 'shared-data' entry of scripts/requirements.mjs (npm test checks it first).
import { REQUIREMENTS } from './requirements.mjs';

export default function setup() {
  const shared = REQUIREMENTS.find((r) => r.id === 'shared-data');
  if (shared && !shared.check()) {
    throw new Error(`${shared.name} is missing: ${shared.neededBy} need it; ${shared.howTo}. No test of this project was run.`);
  }
}
