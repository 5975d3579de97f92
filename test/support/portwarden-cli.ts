// The CLI from source (through tsx), for tests that run it in a namespace as a separate process.
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
