/**
 * One measured run, in a process of its own so its peak RSS is its own: analyse a capture (or only
 * read it, for the I/O ceiling) and print one JSON line.
 *   node dist/bench/analyze-child.js analyze|read FILE
 */
import { readCaptureFileSync } from '../src/capture/capture-file.js';
import { defaultConfig } from '../src/config/load.js';
import { analyzeFiles, Pipeline } from '../src/detect/pipeline.js';

const [mode, file] = process.argv.slice(2);
if ((mode !== 'analyze' && mode !== 'read') || file === undefined) {
  process.stderr.write('usage: analyze-child analyze|read FILE\n');
  process.exit(2);
}

let frames = 0;
let incidents = 0;
const started = process.hrtime.bigint();
if (mode === 'read') {
  let bytes = 0;
  readCaptureFileSync(file, (_buf, _offset, length) => {
    frames++;
    bytes += length;
  });
  if (bytes < 0) process.stderr.write('impossible\n'); // keeps the handler's work observable
} else {
  const pipeline = new Pipeline(defaultConfig('normal').detection);
  analyzeFiles([file], pipeline);
  frames = pipeline.decodeStats.frames;
  incidents = pipeline.engine.incidents().length;
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(
  `${JSON.stringify({ mode, frames, seconds, framesPerSecond: frames / seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, incidents })}\n`,
);
