// The browser twin of the rule language (web/src/rules.js) against the C implementation:
// every case of tests/rules_vectors.json, by both paths — source parsed in JS, and the
// tree as JSON (what the item guide sends, without columns) — and the trees a real ehall
// gives for every shipped item's rules, which parse() must reproduce exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as h from './helpers.mjs';
import { parse, evaluate, toPlain, parseDate, checkRules, zoneToday, RuleError } from '../src/rules.js';

// JSON.parse would round 64-bit integers: read those with more than 15 digits as BigInt.
function parseBig(text) {
  const marked = text.replace(/(:\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1{"$big":"$2"}');
  return JSON.parse(marked, (k, v) => (v && typeof v === 'object' && '$big' in v ? BigInt(v.$big) : v));
}
const V = parseBig(readFileSync(join(h.ROOT, 'tests', 'rules_vectors.json'), 'utf8'));

function env() {
  const cal = V.calendar;
  return {
    fields: V.fields,
    dicts: V.dicts,
    today: V.today,
    isWorkingDay(y, m, d) {
      const s = `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
      if (cal.workdays.includes(s)) return true;
      if (cal.holidays.includes(s)) return false;
      const wd = (((parseDate(s) % 7) + 7 + 4) % 7);
      return !cal.weekend.includes(wd);
    },
  };
}
const same = (got, want) => {
  const norm = (x) => JSON.stringify(x, (k, v) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'number' && Number.isInteger(v) ? `${v}n` : v));
  return norm(got) === norm(want);
};
const treeJson = (t) => JSON.parse(JSON.stringify(t, (k, v) => (typeof v === 'bigint' ? Number(v) : v)));
const needsBig = (t) => JSON.stringify(t, (k, v) => (typeof v === 'bigint' ? '__big__' : v)).includes('__big__');

test('every vector of tests/rules_vectors.json agrees, by source and by tree', () => {
  let agree = 0, trees = 0;
  const bad = [];
  for (const c of V.cases) {
    let tree;
    try {
      tree = parse(c.expr);
    } catch (e) {
      if (!(e instanceof RuleError)) throw e;
      if (c.compile_error && e.message.includes(c.compile_error)) agree++;
      else bad.push(`${c.expr}: compile error '${e.message}'`);
      continue;
    }
    if (c.compile_error) {
      bad.push(`${c.expr}: compiled, wanted '${c.compile_error}'`);
      continue;
    }
    // by source (the tree carries columns)
    const run = (t) => {
      try {
        return { value: toPlain(evaluate(t, env())) };
      } catch (e) {
        if (!(e instanceof RuleError)) throw e;
        return { error: e.message };
      }
    };
    const judge = (r, how) => {
      if ('error' in c) {
        if (r.error === undefined || !r.error.includes(c.error)) bad.push(`${c.expr} (${how}): got ${JSON.stringify(r, (k, v) => (typeof v === 'bigint' ? `${v}` : v))}, wanted error '${c.error}'`);
        else return true;
      } else if (r.error !== undefined || !same(r.value, c.result)) {
        bad.push(`${c.expr} (${how}): got ${JSON.stringify(r, (k, v) => (typeof v === 'bigint' ? `${v}` : v))}, wanted ${JSON.stringify(c.result, (k, v) => (typeof v === 'bigint' ? `${v}` : v))}`);
      } else return true;
      return false;
    };
    const r1 = run(tree);
    if (judge(r1, 'source') && 'error' in c) assert.match(r1.error, /^column \d+: /, `${c.expr}: errors from source name their column`);
    // by tree, as the item guide sends it (JSON, no columns; 64-bit literals would round in a
    // browser's JSON.parse, so those few keep their BigInt here)
    const t2 = needsBig(tree) ? tree : treeJson(tree);
    if (judge(run(t2), 'tree')) trees++;
    if (r1.error === undefined ? same(r1.value, c.result) && !('error' in c) : 'error' in c && r1.error.includes(c.error)) agree++;
  }
  console.log(`# rules twin: ${agree} of ${V.cases.length} vectors agree by source, ${trees} of ${V.cases.filter((c) => !c.compile_error).length} by tree`);
  assert.deepEqual(bad, []);
  assert.equal(agree, V.cases.length);
});

test('rules fail as item_check_form fails them: when, errors, fields', () => {
  const rules = [
    { id: 'minor', check: 'age(form.child_id_number) < 18', when: 'form.child_id_number != null', message: 'm1', fields: ['form.child_id_number'] },
    { id: 'both', check: 'form.a < form.b', message: 'm2', fields: ['form.a', 'form.b'] },
    { id: 'whole', check: 'form.a != null', message: 'm3', fields: [] },
  ];
  // absent id → skipped; a < b with b null → an error → fails, once per field
  assert.deepEqual(checkRules(rules, { form: { a: 1 } }, {}), [
    { rule: 'both', field: 'form.a', message: 'm2' },
    { rule: 'both', field: 'form.b', message: 'm2' },
  ]);
  // an adult's ID number fails "minor"; no a → m3 on the whole form
  const r = checkRules(rules, { form: { child_id_number: '11010519491231002X', b: 2 } }, {});
  assert.deepEqual(r.map((x) => x.rule + ':' + x.field), ['minor:form.child_id_number', 'both:form.a', 'both:form.b', 'whole:form']);
  // a rule reading an unknown applicant detail is left to the server
  const ap = [{ id: 'self', check: 'form.p == applicant.id_number', message: 'x', fields: ['form.p'] }];
  assert.deepEqual(checkRules(ap, { form: { p: '1' }, applicant: {} }, {}, (f) => !f.startsWith('applicant.')), []);
  assert.equal(checkRules(ap, { form: { p: '1' }, applicant: {} }, {}).length, 1);
  // the server's date, whatever the browser's zone
  assert.equal(zoneToday('UTC'), new Date().toISOString().slice(0, 10));
  assert.match(zoneToday(), /^\d{4}-\d{2}-\d{2}$/);
});

test('parse() gives exactly the trees ehall compiles for every shipped item', async () => {
  const srv = await h.startServer();
  try {
    const list = await (await fetch(`${srv.url}/api/v1/items?size=100`)).json();
    let n = 0;
    for (const it of list.items) {
      const g = await (await fetch(`${srv.url}/api/v1/items/${it.code}`)).json();
      for (const r of g.rules || []) {
        assert.deepEqual(treeJson(parse(r.check)), r.check_tree, `${it.code} ${r.id} check`);
        if (r.when) assert.deepEqual(treeJson(parse(r.when)), r.when_tree, `${it.code} ${r.id} when`);
        n++;
      }
    }
    console.log(`# rules twin: parse() matches ehall's trees for ${n} rules of ${list.items.length} items`);
    assert.ok(n >= 10, `only ${n} rules`);
  } finally {
    await srv.stop();
  }
});
