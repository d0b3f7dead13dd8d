// Opens every document of an Automerge archive (`xuncha export --format automerge --out DIR`)
// with the reference JavaScript implementation (@automerge/automerge) and compares what it
// reads with what Xuncha says the records hold (`xuncha record show ID --json`).
//
//   node check.mjs DIR EXPECTED_JSON
//
// EXPECTED_JSON maps each record id to the output of `xuncha record show ID --json`. The
// archive's own manifest.json says where each field lives in a document (its `layout`), as
// it would for anyone reading the archive without Xuncha. Exits 0 when every record matches,
// 1 with every difference listed otherwise, 2 on bad usage.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as Automerge from "@automerge/automerge";

const [dir, expectedPath] = process.argv.slice(2);
if (!dir || !expectedPath) {
  console.error("usage: node check.mjs DIR EXPECTED_JSON");
  process.exit(2);
}

const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
const expected = JSON.parse(readFileSync(expectedPath, "utf8"));
const layout = manifest.layout;
const differences = [];
const differ = (where, what) => differences.push(`${where}: ${what}`);

/** Hundredths (fen, or hundredths of a mu) of a decimal written like "1234.50". */
function hundredths(text) {
  const match = /^(-?)(\d+)\.(\d{2})$/.exec(text);
  if (!match) return NaN;
  const value = Number(match[2]) * 100 + Number(match[3]);
  return match[1] === "-" ? -value : value;
}

/** Whether the document's value `actual` is the JSON's tagged value `tagged` of type `type`. */
function same(type, tagged, actual) {
  const [tag, value] = Object.entries(tagged)[0] ?? [];
  switch (type) {
    case "text":
    case "date":
    case "choice":
      return (tag === "text" || tag === "date" || tag === "choice") && actual === value;
    case "money":
    case "area":
      return (tag === "money" || tag === "area") && Number(actual) === hundredths(value);
    case "flag":
      return tag === "flag" && actual === value;
    case "division":
      return tag === "division" && actual?.code === value.code && actual?.name === value.name;
    case "gps":
      return (
        tag === "gps" &&
        actual?.lat === value.lat &&
        actual?.lon === value.lon &&
        (actual?.accuracy ?? null) === (value.accuracy_m ?? null)
      );
    default:
      return false;
  }
}

/** A scalar as JavaScript holds it: the strings Xuncha writes are Automerge scalar strings
 * (ImmutableString in @automerge/automerge 3), its narrative a text object (a string). */
const plain = (value) => (Automerge.isImmutableString(value) ? value.toString() : value);

/** A document map with every scalar string made plain. */
function plainMap(map) {
  if (map === null || typeof map !== "object" || Automerge.isImmutableString(map)) return plain(map);
  return Object.fromEntries(Object.entries(map).map(([key, value]) => [key, plainMap(value)]));
}

const show = (value) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v));
const sortedKeys = (object) => Object.keys(object ?? {}).sort();

let protectedCount = 0;
for (const entry of manifest.records) {
  const id = entry.record_id;
  const shown = expected[id];
  if (!shown) {
    differ(id, "in the archive but not among the expected records");
    continue;
  }
  const record = shown.record;
  const loaded = Automerge.load(new Uint8Array(readFileSync(join(dir, entry.file))));
  const doc = plainMap(loaded);
  const heads = Automerge.getHeads(loaded).slice().sort();
  if (show(heads) !== show(entry.heads)) differ(id, `heads ${show(heads)} != manifest ${show(entry.heads)}`);
  for (const [key, want] of [
    ["id", record.id],
    ["kind", record.kind],
    ["creator", record.creator],
    ["created_at", record.created_at_ms],
  ]) {
    if (Number.isInteger(want) ? Number(doc[key]) !== want : doc[key] !== want) {
      differ(id, `${key} is ${show(doc[key])}, Xuncha says ${show(want)}`);
    }
  }
  if (String(doc.narrative ?? "") !== record.narrative) differ(id, "the narrative differs");
  if (doc.review?.status !== record.review.status) {
    differ(id, `status ${show(doc.review?.status)} != ${show(record.review.status)}`);
  }
  if (Object.keys(doc.review?.steps ?? {}).length !== record.review.steps.length) differ(id, "the workflow steps differ");
  if (show(sortedKeys(doc.tags)) !== show([...record.tags].sort())) differ(id, "the tags differ");
  if (show(sortedKeys(doc.attachments)) !== show(record.attachments.map((a) => a.sha256).sort())) {
    differ(id, "the attachments differ");
  }
  // Every field, both ways: what Xuncha shows is in the document, and nothing more.
  for (const field of layout.fields) {
    const tagged = record.fields[field.name];
    const actual = doc[field.key];
    if (tagged === undefined) {
      if (actual !== undefined && actual !== "" && !record.malformed.includes(field.key)) {
        differ(id, `${field.key} holds ${show(actual)} that Xuncha does not show`);
      }
    } else if (!same(field.type, tagged, actual)) {
      differ(id, `${field.key} is ${show(actual)}, Xuncha says ${show(tagged)}`);
    }
  }
  // Every list: the same items (by id) with the same values.
  for (const list of layout.lists) {
    const items = record.lists[list.name] ?? [];
    const map = doc[list.key] ?? {};
    const ids = items.map((item) => item.id.replaceAll("-", "")).sort();
    if (show(sortedKeys(map)) !== show(ids)) {
      differ(id, `${list.key}: items ${show(sortedKeys(map))}, Xuncha shows ${show(ids)}`);
      continue;
    }
    for (const item of items) {
      const actual = map[item.id.replaceAll("-", "")];
      for (const field of list.fields) {
        const tagged = item.values[field.name];
        const value = actual[field.key];
        const where = `${list.key}/${item.id}/${field.key}`;
        if (tagged === undefined) {
          if (value !== undefined && value !== "" && !record.malformed.includes(where)) {
            differ(id, `${where} holds ${show(value)} that Xuncha does not show`);
          }
        } else if (!same(field.type, tagged, value)) {
          differ(id, `${where} is ${show(value)}, Xuncha says ${show(tagged)}`);
        }
      }
    }
  }
  // The protected companion: the same record, its values sealed (never the plain text).
  if (entry.protected_file) {
    protectedCount += 1;
    const loadedCompanion = Automerge.load(new Uint8Array(readFileSync(join(dir, entry.protected_file))));
    const companion = plainMap(loadedCompanion);
    const companionHeads = Automerge.getHeads(loadedCompanion).slice().sort();
    if (show(companionHeads) !== show(entry.protected_heads)) differ(id, "the protected companion's heads differ");
    if (companion.kind !== "protected" || companion.record_id !== id) {
      differ(id, `the protected companion is ${show({ kind: companion.kind, record_id: companion.record_id })}`);
    }
    for (const [key, plain] of Object.entries(shown.informant ?? {})) {
      if (typeof plain !== "string" || plain === "") continue;
      const stored = companion.informant?.[key];
      if (typeof stored !== "string" || !stored.startsWith("age:") || stored.includes(plain)) {
        differ(id, `the informant's ${key} is not sealed in the companion: ${show(stored)}`);
      }
    }
  } else if (shown.informant && Object.values(shown.informant).some((v) => typeof v === "string" && v !== "")) {
    differ(id, "Xuncha shows an informant but the archive has no protected companion");
  }
}
for (const id of Object.keys(expected)) {
  if (!manifest.records.some((entry) => entry.record_id === id)) differ(id, "expected but not in the archive");
}

if (differences.length > 0) {
  console.error(`${differences.length} differences:\n${differences.join("\n")}`);
  process.exit(1);
}
console.log(
  `${manifest.records.length} documents and ${protectedCount} protected companions opened with @automerge/automerge: every value matches xuncha record show`,
);
