// Writes the rule groups of a PrometheusRule (its spec) as a plain Prometheus
// rules file, the input of `promtool check rules` and `promtool test rules`.
//   node extract-rules.mjs PROMETHEUSRULE.yaml OUT.yaml
import { readFileSync, writeFileSync } from "node:fs";
import { parse, stringify } from "yaml";

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node extract-rules.mjs PROMETHEUSRULE.yaml OUT.yaml");
  process.exit(2);
}
const rule = parse(readFileSync(input, "utf8"));
if (rule?.kind !== "PrometheusRule" || !Array.isArray(rule?.spec?.groups)) {
  console.error(`${input}: not a PrometheusRule with spec.groups`);
  process.exit(1);
}
writeFileSync(output, stringify({ groups: rule.spec.groups }, { lineWidth: 0 }));
