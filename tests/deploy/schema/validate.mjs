// Validates Kubernetes objects offline against the API schema: every document
// of the YAML files named on the command line (rendered by `kubectl
// kustomize`) goes through the kubernetes-models class of its apiVersion and
// kind, whose validate() runs the JSON schema compiled from the Kubernetes
// OpenAPI document (kubernetes-models 5.1.0: Kubernetes 1.36.0, merged with the
// APIs removed since 1.15), or from the CRD's own schema for KEDA
// (@kubernetes-models/keda 2.0.0) and the Prometheus Operator
// (@kubernetes-models/prometheus-operator 6.0.0).
//
// An object whose apiVersion/kind has no schema here fails: nothing is skipped
// silently. The schema catches wrong types, missing required fields, bad
// formats and enums; like the OpenAPI document itself it accepts unknown
// fields (the API server refuses those at apply: kubectl's --validate=strict).
//
//   node validate.mjs FILE...                  exit 1 when an object is invalid
//   node validate.mjs --expect-invalid FILE... exit 1 when an object passes
//                                              (the check that the checker catches errors)
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const GROUP_PACKAGES = {
  "keda.sh": "@kubernetes-models/keda/keda.sh",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator/monitoring.coreos.com",
};

function modulePath(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  if (slash < 0) return `kubernetes-models/${apiVersion}/${kind}`; // the core group: "v1"
  const group = apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  const base = GROUP_PACKAGES[group] ?? `kubernetes-models/${group}`;
  return `${base}/${version}/${kind}`;
}

async function validateObject(obj) {
  if (!obj || typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
    return ["not a Kubernetes object (no apiVersion or kind)"];
  }
  let model;
  try {
    model = (await import(modulePath(obj.apiVersion, obj.kind)))[obj.kind];
  } catch {
    return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  }
  if (typeof model !== "function") return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  try {
    new model(obj).validate();
    return [];
  } catch (e) {
    return [e.message];
  }
}

async function main(argv) {
  const expectInvalid = argv[0] === "--expect-invalid";
  const files = expectInvalid ? argv.slice(1) : argv;
  if (files.length === 0) {
    console.error("usage: node validate.mjs [--expect-invalid] FILE...");
    return 2;
  }
  let checked = 0;
  let wrong = 0;
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      if (doc.errors.length > 0) {
        console.error(`${file}: YAML: ${doc.errors[0].message}`);
        wrong++;
        continue;
      }
      const obj = doc.toJS();
      if (obj === null || obj === undefined) continue; // an empty document
      checked++;
      const name = `${obj.kind ?? "?"}/${obj.metadata?.name ?? "?"}`;
      const errors = await validateObject(obj);
      if (expectInvalid) {
        if (errors.length === 0) {
          console.error(`${file}: ${name} passed, but it is meant to be invalid: the schema check misses it`);
          wrong++;
        } else {
          console.log(`${file}: ${name} refused as it should be: ${errors.join("; ")}`);
        }
      } else if (errors.length > 0) {
        console.error(`${file}: ${name}: ${errors.join("; ")}`);
        wrong++;
      }
    }
  }
  if (checked === 0) {
    console.error("no object to check");
    return 1;
  }
  console.log(`${files.join(" ")}: ${checked} objects, ${wrong} ${expectInvalid ? "passed wrongly" : "invalid"}`);
  return wrong === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
