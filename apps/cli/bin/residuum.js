#!/usr/bin/env node
// The built CLI; run `npm run build -w apps/cli` first (or `npm start -w apps/cli -- ...` from sources).
import '../dist/main.js';
