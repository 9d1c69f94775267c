#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (also run by `prepare` on npm ci).
import { main } from '../dist/engine/cli/main.js';

process.exitCode = await main(process.argv);
