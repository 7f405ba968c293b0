// Validate a Forge manifest.yml with Atlassian's own validator (@forge/manifest), the code that
// `forge lint` and `forge deploy` run:   node validate.js PATH/manifest.yml [TYPE ...]
// TYPE is a ValidationTypes name (FULL by default; e.g. PRODUCT_TRIGGER, FORGE_REMOTE_COMPUTE).
// Prints one JSON line: {"success": bool, "errors": [...], "manifest": <the manifest as parsed>}.
// Exits 0 when every validation passed, 1 when one did not, 2 when it could not run.
'use strict';

const { ProcessorBuilder, ValidationTypes } = require('@forge/manifest');

async function main(argv) {
  const [manifestPath, ...names] = argv;
  if (!manifestPath) {
    process.stderr.write('usage: node validate.js MANIFEST [TYPE ...]\n');
    return 2;
  }
  const types = names.length ? names : ['FULL'];
  const unknown = types.filter((name) => !(name in ValidationTypes));
  if (unknown.length) {
    process.stderr.write(`unknown validation type(s): ${unknown.join(', ')}\n`);
    return 2;
  }
  let success = true;
  let manifest = null;
  const errors = [];
  for (const name of types) {
    const result = await ProcessorBuilder.instance()
      .withValidation(ValidationTypes[name])
      .build()
      .process(manifestPath);
    success = success && result.success;
    manifest = manifest ?? result.manifestObject?.yamlContent ?? null;
    for (const error of result.errors || []) {
      const { level, message, line, column } = error;
      errors.push({ type: name, level, message, line, column });
    }
  }
  process.stdout.write(JSON.stringify({ success, errors, manifest }) + '\n');
  return success ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`${(error && error.stack) || error}\n`);
    process.exitCode = 2;
  }
);
