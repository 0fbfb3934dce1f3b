import { sharedDataConfig } from '../../vitest.shared.js';

// The DFR checks read the MobileNet backbone in ../shared: without it, one line and no test.
export default sharedDataConfig;
