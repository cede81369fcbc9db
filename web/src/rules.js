// rules.js — the browser twin of ehall's rule language (src/rules/rules.h is the exact
// definition, docs/rules.md teaches it).  The item guide gives each rule's source and
// its compiled tree (check_tree / when_tree, the shape of rules_to_json); this module
// evaluates those trees with the server's semantics, and can also compile source text
// into the same trees (parse), so both paths can be tested against
// tests/rules_vectors.json (web/e2e/rules.test.mjs).
//
//   import { parse, evaluate, check, checkRules } from './rules.js';
//   const tree = parse('age(form.child_id_number) < 18');      // throws RuleError("column N: …")
//   evaluate(tree, env)   → a value (null, boolean, bigint, string, RDate, array), throws RuleError
//   check(tree, env)      → 1 true, 0 false, -1 an error or not a boolean (rules_check)
//   checkRules(item.rules, scope, env) → [{rule, field, message}] for every failing rule
//   idNumberWhy(s, today), usccWhy(s), mobileOk(s), compilePattern(p), matchPattern(p, s),
//   parseDate(s), formatDate(days), zoneToday(tz = 'Asia/Shanghai'): the server's date
//
// Values: integers are BigInt (64-bit, overflow is an error), dates are RDate (days
// since 1970-01-01, proleptic Gregorian), lists are arrays of strings and BigInts.
// env: {fields | lookup(path), dicts {name: [codes]} | inDict(name, v) (→ true/false, or
// null when there is no such dictionary), isWorkingDay(y, m, d) (default Monday–Friday),
// today ('YYYY-MM-DD' or a function returning one; default the browser's local date),
// maxSteps (default 10,000)}.

export class RuleError extends Error {}

export const MAX_SOURCE = 4096;
export const MAX_DEPTH = 64;
export const DEFAULT_STEPS = 10000;
export const MAX_STRING = 65536;
const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;
const MIN_DAY = -719162; // 0001-01-01
const MAX_DAY = 2932896; // 9999-12-31

export class RDate {
  constructor(d) {
    this.d = d;
  }
  toString() {
    return formatDate(this.d);
  }
}

const enc = new TextEncoder();
const utf8Len = (s) => enc.encode(s).length;

// ---- dates (Howard Hinnant's days_from_civil / civil_from_days) ----

const fdiv = (a, b) => Math.trunc(a / b);
export function daysFromCivil(y, m, d) {
  y -= m <= 2 ? 1 : 0;
  const era = fdiv(y >= 0 ? y : y - 399, 400);
  const yoe = y - era * 400;
  const doy = fdiv(153 * (m + (m > 2 ? -3 : 9)) + 2, 5) + d - 1;
  const doe = yoe * 365 + fdiv(yoe, 4) - fdiv(yoe, 100) + doy;
  return era * 146097 + doe - 719468;
}
export function civilFromDays(z) {
  z += 719468;
  const era = fdiv(z >= 0 ? z : z - 146096, 146097);
  const doe = z - era * 146097;
  const yoe = fdiv(doe - fdiv(doe, 1460) + fdiv(doe, 36524) - fdiv(doe, 146096), 365);
  const doy = doe - (365 * yoe + fdiv(yoe, 4) - fdiv(yoe, 100));
  const mp = fdiv(5 * doy + 2, 153);
  const d = doy - fdiv(153 * mp + 2, 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}
const isLeap = (y) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const MDAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** "YYYY-MM-DD" (exactly) → days since 1970-01-01, or null when it is not a real date. */
export function parseDate(s) {
  if (typeof s !== 'string' || !/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(s)) return null;
  const y = +s.slice(0, 4), m = +s.slice(5, 7), d = +s.slice(8, 10);
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > MDAYS[m - 1] + (m === 2 && isLeap(y) ? 1 : 0)) return null;
  return daysFromCivil(y, m, d);
}
export function formatDate(days) {
  let [y, m, d] = civilFromDays(days);
  if (y < 0 || y > 9999) y = 0;
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}
/** Today in the browser's local time zone, as YYYY-MM-DD. */
export function localToday() {
  const t = new Date();
  return `${String(t.getFullYear()).padStart(4, '0')}-${String(t.getMonth() + 1).padStart(2, '0')}-${String(t.getDate()).padStart(2, '0')}`;
}

/** Today in a time zone (ehall's `timezone` setting, Asia/Shanghai by default), YYYY-MM-DD:
 *  what the server's today() says, whatever the browser's own zone. */
export function zoneToday(timeZone = 'Asia/Shanghai') {
  try {
    const p = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(new Date()).map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day}`;
  } catch {
    return localToday();
  }
}

// ---- identity numbers (src/auth/ids.c) ----

/** GB 11643: null when valid, else why (the server's words).  today: YYYY-MM-DD of the clock. */
export function idNumberWhy(s, today = localToday()) {
  const W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  if (typeof s !== 'string' || utf8Len(s) !== 18 || s.includes('\0')) return 'must be 18 characters';
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    if (s[i] < '0' || s[i] > '9') return 'the first 17 characters must be digits';
    sum += (s.charCodeAt(i) - 48) * W[i];
  }
  if (!((s[17] >= '0' && s[17] <= '9') || s[17] === 'X')) return 'the last character must be a digit or X';
  if (s.startsWith('000000') || s[0] === '0') return 'the region code is not valid';
  const y = +s.slice(6, 10), m = +s.slice(10, 12), d = +s.slice(12, 14);
  if (y < 1850 || m < 1 || m > 12 || d < 1 || d > MDAYS[m - 1] + (m === 2 && isLeap(y) ? 1 : 0))
    return 'the birth date is not a real date';
  if (y * 10000 + m * 100 + d > +today.replace(/-/g, '')) return 'the birth date is in the future';
  if (s[17] !== '10X98765432'[sum % 11]) return 'the check character does not match';
  return null;
}
export const idValid = (s) => idNumberWhy(s) === null;

/** GB 32100: null when valid, else why. */
export function usccWhy(s) {
  const A = '0123456789ABCDEFGHJKLMNPQRTUWXY';
  const W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  if (typeof s !== 'string' || utf8Len(s) !== 18 || s.includes('\0')) return 'must be 18 characters';
  let sum = 0;
  for (let i = 0; i < 18; i++) {
    const p = A.indexOf(s[i]);
    if (p < 0) return 'may use only digits and capital letters other than I, O, Z, S and V';
    if (i < 17) sum += p * W[i];
  }
  for (let i = 2; i < 8; i++) if (s[i] < '0' || s[i] > '9') return 'characters 3 to 8 must be a region code';
  if (s[17] !== A[(31 - (sum % 31)) % 31]) return 'the check character does not match';
  return null;
}
export const usccValid = (s) => usccWhy(s) === null;
export const mobileOk = (s) => typeof s === 'string' && /^1[3-9][0-9]{9}$/.test(s);

// ---- patterns of matches() (src/rules/pattern.c) ----

const MAX_PATTERN = 256, MAX_ITEMS = 512, MAX_RANGES = 256, MAX_REPEAT = 100;
const ONE = 0, OPT = 1, STAR = 2;
const cp = (c) => c.codePointAt(0);

/** Compile a pattern: {items, anchorStart, anchorEnd}; throws RuleError("the pattern …"). */
export function compilePattern(pat) {
  const perr = (msg) => {
    throw new RuleError(`the pattern ${msg}`);
  };
  if (utf8Len(pat) > MAX_PATTERN) perr('is longer than 256 bytes');
  const p = Array.from(pat, cp);
  let len = p.length;
  let i = 0;
  const pt = { items: [], nranges: 0, anchorStart: false, anchorEnd: false };
  if (len && p[0] === 94 /* ^ */) {
    pt.anchorStart = true;
    i = 1;
  }
  let slashes = 0;
  while (len >= 2 + slashes && p[len - 2 - slashes] === 92) slashes++;
  if (len > i && p[len - 1] === 36 /* $ */ && slashes % 2 === 0) {
    pt.anchorEnd = true;
    len--;
  }
  const number = () => {
    let v = 0, digits = 0;
    while (i < len && p[i] >= 48 && p[i] <= 57) {
      v = v * 10 + (p[i] - 48);
      if (v > MAX_REPEAT) return null;
      i++;
      digits++;
    }
    return digits ? v : null;
  };
  while (i < len) {
    const it = { kind: ONE, any: false, neg: false, ranges: [] };
    let c = p[i];
    if (c === 42 || c === 43 || c === 63 || c === 123) perr('has a quantifier with nothing before it');
    if (c === 94 || c === 36) perr('has ^ or $ inside (write \\^ or \\$ for the character)');
    if (c === 40 || c === 41 || c === 124) perr('uses ( ) or |, which are not supported (write \\( for the character)');
    i++;
    if (c === 46) {
      it.any = true;
    } else if (c === 91 /* [ */) {
      if (i < len && p[i] === 94) {
        it.neg = true;
        i++;
      }
      let closed = false;
      while (i < len) {
        let lo = p[i];
        if (lo === 93 /* ] */) {
          if (!it.ranges.length) perr('has an empty [] (write \\] for ])');
          i++;
          closed = true;
          break;
        }
        if (lo === 92 && i + 1 < len) {
          i++;
          lo = p[i];
        }
        i++;
        let hi = lo;
        if (i + 1 < len && p[i] === 45 && p[i + 1] !== 93) {
          i++;
          hi = p[i];
          if (hi === 92 && i + 1 < len) {
            i++;
            hi = p[i];
          }
          i++;
          if (hi < lo) perr('has a range that runs backwards');
        }
        if (pt.nranges === MAX_RANGES) perr('has too many classes');
        it.ranges.push([lo, hi]);
        pt.nranges++;
      }
      if (!closed) perr('has a [ without its ]');
    } else {
      if (c === 92) {
        if (i >= len) perr('ends with \\');
        c = p[i];
        i++;
      }
      if (pt.nranges === MAX_RANGES) perr('is too long');
      it.ranges.push([c, c]);
      pt.nranges++;
    }
    let min = 1, max = 1;
    if (i < len && p[i] === 63) (min = 0), i++;
    else if (i < len && p[i] === 42) (min = 0), (max = -1), i++;
    else if (i < len && p[i] === 43) (max = -1), i++;
    else if (i < len && p[i] === 123) {
      i++;
      min = number();
      if (min === null) perr('has a bad {m,n}');
      max = min;
      if (i < len && p[i] === 44) {
        i++;
        max = -1;
        if (i < len && p[i] !== 125) {
          max = number();
          if (max === null || max < min) perr('has a bad {m,n}');
        }
      }
      if (i >= len || p[i] !== 125) perr('has a bad {m,n}');
      i++;
    }
    if (i < len && [63, 42, 43, 123].includes(p[i])) perr('has two quantifiers in a row');
    const copies = max < 0 ? min + 1 : max;
    if (pt.items.length + copies > MAX_ITEMS) perr('repeats too much');
    for (let k = 0; k < copies; k++) pt.items.push({ ...it, kind: k < min ? ONE : max < 0 ? STAR : OPT });
  }
  return pt;
}

function itemHas(it, c) {
  if (it.any) return true;
  let inside = false;
  for (const [lo, hi] of it.ranges) if (c >= lo && c <= hi) inside = true;
  return inside !== it.neg;
}
function closure(items, set) {
  for (let k = 0; k < items.length; k++) if (set[k] && items[k].kind !== ONE) set[k + 1] = 1;
}

/** Does pattern match s (somewhere, unless anchored)?  {result, cost}; throws on a bad pattern. */
export function matchPattern(pat, s) {
  const pt = typeof pat === 'string' ? compilePattern(pat) : pat;
  const k = pt.items.length;
  const cost = Math.floor(((utf8Len(s) + 1) * (k + 1)) / 64);
  let cur = new Uint8Array(k + 1);
  cur[0] = 1;
  closure(pt.items, cur);
  if (!pt.anchorEnd && cur[k]) return { result: true, cost };
  for (const ch of s) {
    const c = cp(ch);
    const nxt = new Uint8Array(k + 1);
    for (let j = 0; j < k; j++) if (cur[j] && itemHas(pt.items[j], c)) nxt[pt.items[j].kind === STAR ? j : j + 1] = 1;
    if (!pt.anchorStart) nxt[0] = 1;
    closure(pt.items, nxt);
    cur = nxt;
    if (!pt.anchorEnd && cur[k]) return { result: true, cost };
  }
  return { result: !!cur[k], cost };
}

// ---- the parser (src/rules/rules.c): source → the rules_to_json tree ----

const FN_ARITY = {
  len: 1, upper: 1, lower: 1, trim: 1, starts_with: 2, ends_with: 2, contains: 2, is_digits: 1, is_alnum: 1,
  matches: 2, date: 1, today: 0, add_days: 2, days_between: 2, year: 1, month: 1, day: 1, add_working_days: 2,
  working_days_between: 2, age: 1, age_at: 2, birth_date: 1, gender: 1, id_valid: 1, uscc_valid: 1, fen: 1,
  in_dict: 2,
};
const RESERVED = new Set(['and', 'or', 'not', 'in', 'true', 'false', 'null', 'if']);
const isNameStart = (c) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
const isNameChar = (c) => isNameStart(c) || (c >= '0' && c <= '9');
const hidden = (o, col, depth) => {
  Object.defineProperty(o, 'col', { value: col, writable: true, enumerable: false });
  Object.defineProperty(o, 'depth', { value: depth, writable: true, enumerable: false });
  return o;
};
const intOut = (v) => (v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v);

/** Compile source text into the tree rules_to_json gives for it; throws RuleError("column N: why"). */
export function parse(src) {
  src = src ?? '';
  if (utf8Len(src) > MAX_SOURCE) throw new RuleError(`column 1: the expression is longer than ${MAX_SOURCE} bytes`);
  const cols = new Array(src.length + 1);
  for (let i = 0, col = 1; i <= src.length; i++) {
    cols[i] = col;
    if (i < src.length) {
      const u = src.charCodeAt(i);
      if (u >= 0xd800 && u <= 0xdbff) {
        const v = src.charCodeAt(i + 1);
        if (!(v >= 0xdc00 && v <= 0xdfff)) throw new RuleError(`column ${col}: the text is not valid UTF-8`);
      } else if (u >= 0xdc00 && u <= 0xdfff) {
        if (!(i > 0 && src.charCodeAt(i - 1) >= 0xd800 && src.charCodeAt(i - 1) <= 0xdbff))
          throw new RuleError(`column ${col}: the text is not valid UTF-8`);
        continue; // the second half of a pair is not a new character
      }
      col++;
    }
  }
  const s = src;
  const P = { pos: 0, t: 'eof', start: 0, len: 0, punct: '', ival: 0n, sval: '', level: 0 };
  const failAt = (off, msg) => {
    throw new RuleError(`column ${cols[Math.min(off, src.length)]}: ${msg}`);
  };
  const ch = (i) => (i < s.length ? s[i] : '');

  function next() {
    let i = P.pos;
    while (ch(i) === ' ' || ch(i) === '\t' || ch(i) === '\n' || ch(i) === '\r') i++;
    P.start = i;
    const c = ch(i);
    if (!c) {
      P.t = 'eof';
      P.len = 0;
    } else if (c >= '0' && c <= '9') {
      let v = 0n, j = i;
      while (ch(j) >= '0' && ch(j) <= '9') {
        const dgt = BigInt(s.charCodeAt(j) - 48);
        if (v > (I64_MAX - dgt) / 10n) failAt(i, 'the number is too large');
        v = v * 10n + dgt;
        j++;
      }
      if (isNameChar(ch(j)) || ch(j) === '.') failAt(j, 'a number must stand alone (no fractions: money is in fen)');
      P.t = 'int';
      P.ival = v;
      P.len = j - i;
    } else if (c === '"') {
      let j = i + 1, buf = '';
      for (;;) {
        const u = ch(j);
        if (!u) failAt(i, 'the string is not closed with "');
        if (u === '"') break;
        if (u.charCodeAt(0) < 0x20) failAt(j, 'a control character cannot appear in a string');
        if (u === '\\') {
          if (ch(j + 1) !== '"' && ch(j + 1) !== '\\') failAt(j, 'only \\" and \\\\ are escapes');
          buf += ch(j + 1);
          j += 2;
          continue;
        }
        buf += u;
        j++;
      }
      P.t = 'str';
      P.sval = buf;
      P.len = j + 1 - i;
    } else if (isNameStart(c)) {
      let j = i;
      while (isNameChar(ch(j))) j++;
      P.t = 'name';
      P.len = j - i;
    } else {
      P.t = 'punct';
      const two = s.slice(i, i + 2);
      if (['==', '!=', '<=', '>='].includes(two)) {
        P.punct = two;
        P.len = 2;
        P.pos = i + 2;
        return;
      }
      if (c === '=') failAt(i, 'use == to compare');
      else if (c === '!') failAt(i, 'use not, or != to compare');
      else if (two === '&&') failAt(i, 'use and');
      else if (two === '||') failAt(i, 'use or');
      else if (c === "'") failAt(i, 'strings are written in double quotes');
      else if (!'()[],.+-*/%<>'.includes(c)) failAt(i, 'unexpected character');
      P.punct = c;
      P.len = 1;
    }
    P.pos = i + P.len;
  }
  const isPunct = (x) => P.t === 'punct' && P.punct === x;
  const isWord = (w) => P.t === 'name' && s.slice(P.start, P.start + P.len) === w;
  const node = (o, off) => hidden(o, cols[off], 1);
  const addKid = (e, kid, list = e.args) => {
    list.push(kid);
    if (kid.depth + 1 > e.depth) e.depth = kid.depth + 1;
    if (e.depth > MAX_DEPTH) failAt(P.start, `nested deeper than ${MAX_DEPTH} levels`);
  };
  const enter = () => {
    if (++P.level > MAX_DEPTH) failAt(P.start, `nested deeper than ${MAX_DEPTH} levels`);
  };
  const noDict = (e) => {
    if (e && 'dict' in e) throw new RuleError(`column ${e.col}: dict(...) can only stand on the right of in`);
  };
  const binary = (op, off, l, r) => {
    noDict(l);
    if (op !== 'in' && op !== 'not in') noDict(r);
    const e = node({ op, args: [] }, off);
    addKid(e, l);
    addKid(e, r);
    return e;
  };

  function parseList() {
    const e = node({ list: [] }, P.start);
    const kids = [];
    next(); // [
    if (isPunct(']')) {
      next();
      return e;
    }
    for (;;) {
      const off = P.start;
      let neg = false;
      if (isPunct('-')) {
        neg = true;
        next();
      }
      let item;
      if (P.t === 'int') item = node({ int: intOut(neg ? -P.ival : P.ival) }, off);
      else if (P.t === 'str' && !neg) item = node({ str: P.sval }, off);
      else failAt(P.start, 'a list holds only string and integer literals');
      addKid(e, item, kids);
      e.list.push(item.int ?? item.str);
      next();
      if (isPunct(']')) {
        next();
        return e;
      }
      if (!isPunct(',')) failAt(P.start, 'expected , or ] in the list');
      next();
    }
  }

  function parseCall(off, nlen) {
    const name = s.slice(off, off + nlen);
    const isIf = name === 'if', isDict = name === 'dict';
    if (!(name in FN_ARITY) && !isIf && !isDict) failAt(off, `there is no function ${name.slice(0, 40)}`);
    next(); // (
    if (isDict) {
      if (P.t !== 'str') failAt(P.start, 'dict() takes a dictionary name in quotes');
      const e = node({ dict: P.sval }, off);
      next();
      if (!isPunct(')')) failAt(P.start, 'expected ) after the dictionary name');
      next();
      return e;
    }
    const e = node(isIf ? { op: 'if', args: [] } : { call: name, args: [] }, off);
    if (!isPunct(')')) {
      for (;;) {
        addKid(e, parseOr());
        if (isPunct(')')) break;
        if (!isPunct(',')) failAt(P.start, 'expected , or ) in the call');
        next();
      }
    }
    next(); // )
    const want = isIf ? 3 : FN_ARITY[name];
    if (e.args.length !== want) failAt(off, `${name} takes ${want} argument${want === 1 ? '' : 's'}`);
    if (name === 'in_dict' && !('str' in e.args[1])) failAt(off, 'in_dict takes the dictionary name in quotes');
    if (name === 'matches' && 'str' in e.args[1]) {
      try {
        compilePattern(e.args[1].str);
      } catch (err) {
        failAt(off, err.message);
      }
    }
    if (name === 'date' && 'str' in e.args[0]) {
      const d = parseDate(e.args[0].str);
      if (d === null) failAt(off, 'not a real date in YYYY-MM-DD form');
      return hidden({ date: formatDate(d) }, e.col, 1);
    }
    return e;
  }

  function parsePrimary() {
    const off = P.start;
    let e;
    if (P.t === 'int') {
      e = node({ int: intOut(P.ival) }, off);
      next();
    } else if (P.t === 'str') {
      e = node({ str: P.sval }, off);
      next();
    } else if (isPunct('(')) {
      next();
      e = parseOr();
      if (!isPunct(')')) failAt(P.start, 'expected )');
      next();
      if (++e.depth > MAX_DEPTH) failAt(off, `nested deeper than ${MAX_DEPTH} levels`);
    } else if (isPunct('[')) {
      e = parseList();
    } else if (isWord('true') || isWord('false')) {
      e = node({ bool: isWord('true') }, off);
      next();
    } else if (isWord('null')) {
      e = node({ null: true }, off);
      next();
    } else if (P.t === 'name') {
      const nlen = P.len;
      next();
      if (isPunct('(')) return parseCall(off, nlen);
      const word = s.slice(off, off + nlen);
      if (RESERVED.has(word)) failAt(off, `${word} is a reserved word, not a value`);
      let end = off + nlen;
      while (isPunct('.')) {
        next();
        if (P.t !== 'name' || P.start !== end + 1 || RESERVED.has(s.slice(P.start, P.start + P.len)))
          failAt(P.start, 'expected a field name after .');
        end = P.start + P.len;
        next();
      }
      e = node({ field: s.slice(off, end) }, off);
    } else if (P.t === 'eof') {
      failAt(off, 'the expression ends too soon');
    } else {
      failAt(off, `unexpected ${P.punct}`);
    }
    return e;
  }

  function prefix(op, off, parseKid) {
    const e = node({ op, args: [] }, off);
    const kid = parseKid();
    P.level--;
    noDict(kid);
    addKid(e, kid);
    return e;
  }

  function parseUnary() {
    if (isPunct('-')) {
      const off = P.start;
      enter();
      next();
      if (P.t === 'int') {
        const e = node({ int: intOut(-P.ival) }, off);
        next();
        P.level--;
        return e;
      }
      return prefix('neg', off, parseUnary);
    }
    return parsePrimary();
  }
  function parseMul() {
    let l = parseUnary();
    for (;;) {
      const op = ['*', '/', '%'].find(isPunct);
      if (!op) return l;
      const off = P.start;
      next();
      l = binary(op, off, l, parseUnary());
    }
  }
  function parseAdd() {
    let l = parseMul();
    for (;;) {
      const op = ['+', '-'].find(isPunct);
      if (!op) return l;
      const off = P.start;
      next();
      l = binary(op, off, l, parseMul());
    }
  }
  const cmpOp = () => ['==', '!=', '<', '<=', '>', '>='].find(isPunct);
  function parseCmp() {
    const l = parseAdd();
    const off = P.start;
    let op = cmpOp();
    if (op) {
      next();
    } else if (isWord('in')) {
      op = 'in';
      next();
    } else if (isWord('not')) {
      next();
      if (!isWord('in')) failAt(P.start, 'expected in after not');
      op = 'not in';
      next();
    } else {
      noDict(l);
      return l;
    }
    const e = binary(op, off, l, parseAdd());
    if (cmpOp() || isWord('in')) failAt(P.start, 'comparisons do not chain: use and');
    return e;
  }
  function parseNot() {
    if (isWord('not')) {
      const off = P.start;
      enter();
      next();
      return prefix('not', off, parseNot);
    }
    return parseCmp();
  }
  function parseAnd() {
    let l = parseNot();
    while (isWord('and')) {
      const off = P.start;
      next();
      l = binary('and', off, l, parseNot());
    }
    return l;
  }
  function parseOr() {
    enter();
    let l = parseAnd();
    while (isWord('or')) {
      const off = P.start;
      next();
      l = binary('or', off, l, parseAnd());
    }
    P.level--;
    return l;
  }

  next();
  const e = parseOr();
  if (P.t !== 'eof') failAt(P.start, 'unexpected text after the expression');
  return e;
}

// ---- evaluation (src/rules/eval.c) ----

const typeName = (v) =>
  v === null ? 'null'
  : typeof v === 'boolean' ? 'boolean'
  : typeof v === 'bigint' ? 'integer'
  : typeof v === 'string' ? 'string'
  : v instanceof RDate ? 'date'
  : Array.isArray(v) ? 'list'
  : '?';

function cmpStrings(a, b) {
  // UTF-8 byte order is code point order.
  const x = enc.encode(a), y = enc.encode(b);
  const m = Math.min(x.length, y.length);
  for (let i = 0; i < m; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}

/** A value from a JSON-like form for rules (rules_json_lookup); undefined = unusable. */
function fromJson(j) {
  if (j === null || j === undefined) return null;
  if (typeof j === 'boolean' || typeof j === 'string') return j;
  if (typeof j === 'bigint') return j >= I64_MIN && j <= I64_MAX ? j : undefined;
  if (typeof j === 'number') return Number.isInteger(j) ? BigInt(j) : undefined;
  return undefined;
}
/** The lookup of rules_json_lookup over a plain object: "a.b" is root.a.b. */
export function jsonLookup(root, path) {
  let j = root;
  for (const name of path.split('.')) {
    j = j && typeof j === 'object' && !Array.isArray(j) && Object.prototype.hasOwnProperty.call(j, name) ? j[name] : undefined;
    if (j === undefined) return null;
  }
  if (Array.isArray(j)) {
    const out = [];
    for (const it of j) {
      if (typeof it === 'string') out.push(it);
      else if ((typeof it === 'number' && Number.isInteger(it)) || typeof it === 'bigint') out.push(BigInt(it));
      else return undefined;
    }
    return out;
  }
  return fromJson(j);
}

const weekday = (d) => (((d % 7) + 7 + 4) % 7); // 0 = Sunday

/** Evaluate a tree (from the item guide or parse()) in env; throws RuleError. */
export function evaluate(tree, env = {}) {
  const maxSteps = env.maxSteps > 0 ? env.maxSteps : DEFAULT_STEPS;
  let steps = 0;
  const fail = (n, msg) => {
    throw new RuleError(n && n.col ? `column ${n.col}: ${msg}` : msg);
  };
  const tick = (n, cost) => {
    if (cost > maxSteps - steps) {
      steps = maxSteps;
      fail(n, `the rule takes more than ${maxSteps} steps`);
    }
    steps += cost;
  };
  const want = (n, what, v, type) => {
    if (typeName(v) !== type) fail(n, `${what} takes ${type === 'integer' ? 'an' : 'a'} ${type}, not ${typeName(v)}`);
  };
  const toDate = (n, what, v) => {
    if (v instanceof RDate) return v.d;
    if (typeof v === 'string') {
      const d = parseDate(v);
      if (d !== null) return d;
      fail(n, `${what}: "${[...v].slice(0, 40).join('')}" is not a real date in YYYY-MM-DD form`);
    }
    fail(n, `${what} takes a date, not ${typeName(v)}`);
  };
  const dateOk = (n, d) => {
    if (d < MIN_DAY || d > MAX_DAY) fail(n, 'the date falls outside the years 0001-9999');
  };
  const i64 = (n, r, opn) => {
    if (r > I64_MAX || r < I64_MIN) fail(n, `integer overflow in ${opn}`);
    return r;
  };
  const todayDays = (n) => {
    const t = typeof env.today === 'function' ? env.today() : env.today ?? localToday();
    const d = parseDate(t);
    if (d === null) fail(n, "today's date is not a real date");
    return d;
  };
  const isWorking = (d) => {
    if (env.isWorkingDay) {
      const [y, m, dd] = civilFromDays(d);
      return !!env.isWorkingDay(y, m, dd);
    }
    const wd = weekday(d);
    return wd >= 1 && wd <= 5;
  };
  const dictHas = (n, dict, v) => {
    if (typeof v !== 'string' && typeof v !== 'bigint')
      fail(n, `only a string or an integer can be looked up in a dictionary, not ${typeName(v)}`);
    let r = null;
    if (env.inDict) r = env.inDict(dict, v);
    else if (env.dicts && Object.prototype.hasOwnProperty.call(env.dicts, dict))
      r = env.dicts[dict].some((c) => (typeof v === 'string' ? c === v : (typeof c === 'number' || typeof c === 'bigint') && BigInt(c) === v));
    if (r === null || r === undefined) fail(n, `there is no dictionary "${dict.slice(0, 40)}"`);
    return !!r;
  };
  const lookup = (n) => {
    let v;
    if (env.lookup) v = env.lookup(n.field);
    else if (env.fields) v = jsonLookup(env.fields, n.field);
    else v = null;
    if (v === undefined) fail(n, `the field ${n.field.slice(0, 60)} holds a value rules cannot use`);
    if (typeof v === 'string' && utf8Len(v) > MAX_STRING) fail(n, `the field ${n.field.slice(0, 60)} is too long`);
    if (Array.isArray(v)) tick(n, Math.floor(v.length / 16));
    if (v instanceof RDate) dateOk(n, v.d);
    return v;
  };
  const idArg = (n, what, v) => {
    want(n, what, v, 'string');
    const why = idNumberWhy(v, env.clockToday ?? localToday());
    if (why) fail(n, `${what}: not a valid ID number (${why})`);
    const birth = parseDate(`${v.slice(6, 10)}-${v.slice(10, 12)}-${v.slice(12, 14)}`);
    if (birth === null) fail(n, `${what}: the birth date is not real`);
    return { birth, male: (v.charCodeAt(16) - 48) % 2 === 1 };
  };
  const ageAt = (n, what, birth, at) => {
    if (at < birth) fail(n, `${what}: the date is before the birth date`);
    const [by, bm, bd] = civilFromDays(birth);
    const [ay, am, ad] = civilFromDays(at);
    return BigInt(ay - by - (am < bm || (am === bm && ad < bd) ? 1 : 0));
  };
  const fen = (n, v) => {
    want(n, 'fen', v, 'string');
    let i = 0, neg = false;
    if (v[0] === '-') {
      neg = true;
      i = 1;
    }
    let r = 0n, digits = 0, frac = -1;
    const bad = () => fail(n, `fen: "${[...v].slice(0, 40).join('')}" is not an amount like 12.34`);
    for (; i < v.length; i++) {
      const c = v[i];
      if (c === '.' && frac < 0 && digits) {
        frac = 0;
        continue;
      }
      if (c < '0' || c > '9' || frac === 2) bad();
      r = r * 10n + BigInt(c.charCodeAt(0) - 48);
      if (r > I64_MAX) fail(n, 'fen: the amount is too large');
      if (frac >= 0) frac++;
      else digits++;
    }
    if (!digits || frac === 0) bad();
    for (let k = frac < 0 ? 0 : frac; k < 2; k++) {
      r *= 10n;
      if (r > I64_MAX) fail(n, 'fen: the amount is too large');
    }
    return neg ? -r : r;
  };

  function compare(n, op, a, b) {
    if (op === '==' || op === '!=') {
      if (a === null || b === null) return (a === null) === (b === null) === (op === '==');
    } else if (a === null || b === null) {
      fail(n, `${op} cannot compare null (an absent field)`);
    }
    let c;
    const ta = typeName(a), tb = typeName(b);
    if (ta === 'date' || tb === 'date') {
      if ((ta !== 'date' && ta !== 'string') || (tb !== 'date' && tb !== 'string')) fail(n, `${op} cannot compare ${ta} with ${tb}`);
      const x = toDate(n, op, a), y = toDate(n, op, b);
      c = Math.sign(x - y);
    } else if (ta !== tb) {
      fail(n, `${op} cannot compare ${ta} with ${tb}`);
    } else if (ta === 'integer') {
      c = a > b ? 1 : a < b ? -1 : 0;
    } else if (ta === 'string') {
      tick(n, Math.floor(Math.min(utf8Len(a), utf8Len(b)) / 64));
      c = cmpStrings(a, b);
    } else if (ta === 'boolean' && (op === '==' || op === '!=')) {
      c = a !== b ? 1 : 0;
    } else {
      fail(n, `${op} cannot compare ${ta} values`);
    }
    switch (op) {
      case '==': return c === 0;
      case '!=': return c !== 0;
      case '<': return c < 0;
      case '<=': return c <= 0;
      case '>': return c > 0;
      default: return c >= 0;
    }
  }

  function arith(n, op, a, b) {
    if (op === '+' && typeof a === 'string' && typeof b === 'string') {
      const len = utf8Len(a) + utf8Len(b);
      if (len > MAX_STRING) fail(n, `the string would be longer than ${MAX_STRING} bytes`);
      tick(n, Math.floor(len / 64));
      return a + b;
    }
    if (typeof a !== 'bigint' || typeof b !== 'bigint') {
      if (op === '+' && (typeof a === 'string' || typeof b === 'string'))
        fail(n, `+ joins two strings or adds two integers, not ${typeName(a)} and ${typeName(b)}`);
      fail(n, `${op} takes integers, not ${typeName(a)} and ${typeName(b)}`);
    }
    switch (op) {
      case '+': return i64(n, a + b, op);
      case '-': return i64(n, a - b, op);
      case '*': return i64(n, a * b, op);
      default:
        if (b === 0n) fail(n, 'division by zero');
        if (a === I64_MIN && b === -1n) return op === '/' ? i64(n, -a, op) : 0n;
        return op === '/' ? a / b : a % b;
    }
  }

  function call(n) {
    const what = n.call;
    const a = n.args.map((k) => ev(k));
    switch (what) {
      case 'len':
        want(n, what, a[0], 'string');
        tick(n, Math.floor(utf8Len(a[0]) / 64));
        return BigInt([...a[0]].length);
      case 'upper':
      case 'lower':
        want(n, what, a[0], 'string');
        tick(n, Math.floor(utf8Len(a[0]) / 64));
        return what === 'upper' ? a[0].replace(/[a-z]+/g, (x) => x.toUpperCase()) : a[0].replace(/[A-Z]+/g, (x) => x.toLowerCase());
      case 'trim':
        want(n, what, a[0], 'string');
        return a[0].replace(/^[ \t\n\r\v\f]+/, '').replace(/[ \t\n\r\v\f]+$/, '');
      case 'starts_with':
      case 'ends_with':
      case 'contains':
        want(n, what, a[0], 'string');
        want(n, what, a[1], 'string');
        tick(n, Math.floor(utf8Len(a[0]) / 64));
        return what === 'starts_with' ? a[0].startsWith(a[1]) : what === 'ends_with' ? a[0].endsWith(a[1]) : a[0].includes(a[1]);
      case 'is_digits':
        want(n, what, a[0], 'string');
        return /^[0-9]+$/.test(a[0]);
      case 'is_alnum':
        want(n, what, a[0], 'string');
        return /^[A-Za-z0-9]+$/.test(a[0]);
      case 'matches': {
        want(n, what, a[0], 'string');
        want(n, what, a[1], 'string');
        let m;
        try {
          const pt = compilePattern(a[1]);
          const cost = ((utf8Len(a[0]) + 1) * (pt.items.length + 1)) / 64;
          if (cost > maxSteps - steps) tick(n, maxSteps - steps + 1);
          m = matchPattern(pt, a[0]);
        } catch (e) {
          if (e instanceof RuleError && e.message.startsWith('the pattern')) fail(n, `matches: ${e.message}`);
          throw e;
        }
        tick(n, m.cost);
        return m.result;
      }
      case 'date':
        return new RDate(toDate(n, what, a[0]));
      case 'today':
        return new RDate(todayDays(n));
      case 'add_days': {
        const d = toDate(n, what, a[0]);
        want(n, what, a[1], 'integer');
        const k = a[1];
        if (k < BigInt(-MAX_DAY * 2) || k > BigInt(MAX_DAY * 2)) dateOk(n, MAX_DAY + 1);
        dateOk(n, d + Number(k));
        return new RDate(d + Number(k));
      }
      case 'days_between': {
        const d = toDate(n, what, a[0]), e = toDate(n, what, a[1]);
        return BigInt(e - d);
      }
      case 'year':
      case 'month':
      case 'day': {
        const [y, m, dd] = civilFromDays(toDate(n, what, a[0]));
        return BigInt(what === 'year' ? y : what === 'month' ? m : dd);
      }
      case 'add_working_days': {
        let d = toDate(n, what, a[0]);
        want(n, what, a[1], 'integer');
        if (a[1] < BigInt(-MAX_DAY) || a[1] > BigInt(MAX_DAY)) dateOk(n, MAX_DAY + 1);
        let left = Number(a[1]);
        const step = left < 0 ? -1 : 1;
        if (left < 0) left = -left;
        while (left > 0) {
          d += step;
          dateOk(n, d);
          tick(n, 1);
          if (isWorking(d)) left--;
        }
        return new RDate(d);
      }
      case 'working_days_between': {
        const d = toDate(n, what, a[0]), e = toDate(n, what, a[1]);
        const lo = Math.min(d, e), hi = Math.max(d, e);
        let c = 0;
        for (let x = lo + 1; x <= hi; x++) {
          tick(n, 1);
          if (isWorking(x)) c++;
        }
        return BigInt(e < d ? -c : c);
      }
      case 'age': {
        const { birth } = idArg(n, what, a[0]);
        return ageAt(n, what, birth, todayDays(n));
      }
      case 'age_at': {
        const { birth } = idArg(n, what, a[0]);
        return ageAt(n, what, birth, toDate(n, what, a[1]));
      }
      case 'birth_date':
        return new RDate(idArg(n, what, a[0]).birth);
      case 'gender':
        return idArg(n, what, a[0]).male ? 'M' : 'F';
      case 'id_valid':
        want(n, what, a[0], 'string');
        return idNumberWhy(a[0], env.clockToday ?? localToday()) === null;
      case 'uscc_valid':
        want(n, what, a[0], 'string');
        return usccWhy(a[0]) === null;
      case 'fen':
        return fen(n, a[0]);
      case 'in_dict':
        return dictHas(n, n.args[1].str, a[0]);
    }
    return fail(n, 'unknown function');
  }

  function ev(n) {
    tick(n, 1);
    if ('int' in n) return BigInt(n.int);
    if ('str' in n) return n.str;
    if ('bool' in n) return !!n.bool;
    if ('null' in n) return null;
    if ('date' in n) {
      const d = parseDate(n.date);
      if (d === null) fail(n, 'not a real date in YYYY-MM-DD form');
      return new RDate(d);
    }
    if ('list' in n) return n.list.map((x) => (typeof x === 'string' ? x : BigInt(x)));
    if ('field' in n) return lookup(n);
    if ('dict' in n) return fail(n, 'dict(...) can only stand on the right of in');
    if ('call' in n) return call(n);
    const [l, r] = n.args || [];
    switch (n.op) {
      case 'neg': {
        const a = ev(l);
        want(n, '-', a, 'integer');
        return i64(n, -a, '-');
      }
      case 'not': {
        const a = ev(l);
        want(n, 'not', a, 'boolean');
        return !a;
      }
      case 'and':
      case 'or': {
        const a = ev(l);
        want(n, n.op, a, 'boolean');
        if (a === (n.op === 'or')) return a;
        const b = ev(r);
        want(n, n.op, b, 'boolean');
        return b;
      }
      case 'if': {
        const c = ev(n.args[0]);
        want(n, 'if', c, 'boolean');
        return ev(n.args[c ? 1 : 2]);
      }
      case 'in':
      case 'not in': {
        const v = ev(l);
        let found;
        if ('dict' in r) {
          found = dictHas(n, r.dict, v);
        } else {
          const list = ev(r);
          if (!Array.isArray(list)) fail(n, `in takes a list on its right, not ${typeName(list)}`);
          if (typeof v !== 'string' && typeof v !== 'bigint')
            fail(n, `only a string or an integer can be looked for in a list, not ${typeName(v)}`);
          tick(n, Math.floor(list.length / 16));
          found = list.some((x) => typeof x === typeof v && x === v);
        }
        return n.op === 'in' ? found : !found;
      }
      case '==': case '!=': case '<': case '<=': case '>': case '>=': {
        const a = ev(l), b = ev(r);
        return compare(n, n.op, a, b);
      }
      case '+': case '-': case '*': case '/': case '%': {
        const a = ev(l), b = ev(r);
        return arith(n, n.op, a, b);
      }
    }
    return fail(n, 'cannot evaluate');
  }

  if (!tree) throw new RuleError('column 1: no expression');
  return ev(tree);
}

/** rules_check: 1 true, 0 false, -1 an error or a result that is not a boolean. */
export function check(tree, env) {
  try {
    const v = evaluate(tree, env);
    return typeof v === 'boolean' ? (v ? 1 : 0) : -1;
  } catch (e) {
    if (e instanceof RuleError) return -1;
    throw e;
  }
}

/** A value as JSON-like data (a date is {date: "YYYY-MM-DD"}; integers are numbers when
 *  they fit, BigInt otherwise). */
export function toPlain(v) {
  if (typeof v === 'bigint') return intOut(v);
  if (v instanceof RDate) return { date: formatDate(v.d) };
  if (Array.isArray(v)) return v.map(toPlain);
  return v;
}

/** The fields a tree reads (dotted paths). */
export function fieldsOf(tree, out = new Set()) {
  if (!tree || typeof tree !== 'object') return out;
  if ('field' in tree) out.add(tree.field);
  for (const a of tree.args || []) fieldsOf(a, out);
  return out;
}

/**
 * The item's rules over scope {form, applicant}, as item_check_form does: a rule whose
 * `when` is false is skipped; one whose check is not true fails, reported once per path
 * in `fields` ("form" when none).  known(path) may say a field is not known here (e.g.
 * an applicant detail the browser does not have): rules reading one are skipped, the
 * server checks them.  → [{rule, field, message}]
 */
export function checkRules(rules, scope, env = {}, known = () => true) {
  const out = [];
  for (const r of rules || []) {
    const check_tree = r.check_tree ?? (r.check ? parse(r.check) : null);
    const when_tree = r.when_tree ?? (r.when ? parse(r.when) : null);
    const reads = [...fieldsOf(check_tree), ...fieldsOf(when_tree)];
    if (!reads.every(known)) continue;
    const e = { ...env, fields: scope, lookup: undefined };
    if (when_tree && check(when_tree, e) === 0) continue;
    if (check(check_tree, e) === 1) continue;
    for (const f of r.fields?.length ? r.fields : ['form']) out.push({ rule: r.id, field: f, message: r.message });
  }
  return out;
}
