// Writes every PromQL expression of a Grafana dashboard as a recording rule,
// so that `promtool check rules` parses them: Grafana's variables are replaced
// by values of the same type first ($__rate_interval by 5m, $role by .*).
//   node dashboard-rules.mjs DASHBOARD.json OUT.yaml
import { readFileSync, writeFileSync } from "node:fs";
import { stringify } from "yaml";

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node dashboard-rules.mjs DASHBOARD.json OUT.yaml");
  process.exit(2);
}
const dashboard = JSON.parse(readFileSync(input, "utf8"));
const rules = [];
for (const panel of dashboard.panels ?? []) {
  for (const target of panel.targets ?? []) {
    const expr = target.expr
      .replaceAll("$__rate_interval", "5m")
      .replaceAll("$__interval", "1m")
      .replaceAll("$role", ".*");
    rules.push({ record: `dashboard:panel${panel.id}:${target.refId}`, expr });
  }
}
if (rules.length === 0) {
  console.error(`${input}: no PromQL expression`);
  process.exit(1);
}
writeFileSync(output, stringify({ groups: [{ name: "dashboard", rules }] }, { lineWidth: 0 }));
