#!/usr/bin/env -S node --max-semi-space-size=64
// Thin launcher: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
// A 64 MiB young generation halves the scavenges of a long analysis (BENCHMARKS.md); bench/run.ts
// runs its measurements with the same flags (bench/node-flags.ts).
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
