/** The V8 flags bin/portwarden.js runs with (its shebang), so benchmark figures are what users get. */
export const NODE_FLAGS = ['--max-semi-space-size=64'];
