// Runs the compiled typescript target over cases from a JSON file and prints its answers as JSON.
//   node conformance.cjs MODULE.js CASES.json
// CASES.json: {"decide": [[runtime, model, authEnv, on (YYYY-MM-DD, optional)], ...], "regex": {"patterns": [[source, flags]], "texts": [...]}}
"use strict";
const fs = require("fs");

const [modulePath, casesPath] = process.argv.slice(2);
const cases = JSON.parse(fs.readFileSync(casesPath, "utf8"));
const answers = {};

if (cases.decide) {
  const registry = require(modulePath);
  answers.decide = cases.decide.map(([runtime, model, authEnv, on]) => {
    const d = registry.check(runtime, model, authEnv, on === undefined || on === null ? undefined : on);
    let derived;
    try {
      const r = registry.derive(runtime, model, new Set(authEnv));
      derived = { provider: r.provider.name, step: r.step, candidates: r.candidates };
    } catch (error) {
      if (!(error instanceof registry.DeriveError)) throw error;
      derived = { error: error.kind, candidates: error.candidates };
    }
    return {
      check: {
        runtime: d.runtime, model: d.model, allowed: d.allowed, path: d.path, code: d.code,
        provider: d.provider, billing_mode: d.billing_mode, required_env: d.required_env, candidates: d.candidates,
      },
      derive: derived,
    };
  });
}

if (cases.regex) {
  const compiled = cases.regex.patterns.map(([source, flags]) => new RegExp(source, flags));
  answers.regex = compiled.map((re) => cases.regex.texts.map((text) => re.test(text)));
}

process.stdout.write(JSON.stringify(answers));
