import { sharedDataConfig } from '../../vitest.shared.js';

// Some tests read ../shared (datasets, backbones): without it, one line and no test.
export default sharedDataConfig;
