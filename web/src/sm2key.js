// SM2 keys in the browser, for certificate log-in (docs/security.md "Certificate log-in in
// the browser").  Pages load this module with import() only when a key is used, so
// sm-crypto never weighs on the first screen.  A key file the user picks is read here
// and stays here: only the public key (to register it) and signatures leave the page.
//
//   const k = await import('../sm2key.js');
//   const key = k.readKey(await file.text());      // throws KeyError {code}
//   key.kind                                       // 'private' | 'public'
//   k.publicPem(key)                               // SubjectPublicKeyInfo PEM, for POST /account/certs
//   k.sign(key, challenge, signerId)               // DER signature, lower-case hex (SM2 with SM3)
//
// Formats: PKCS#8 "PRIVATE KEY" (what `openssl genpkey -algorithm SM2` writes), SEC1 "EC
// PRIVATE KEY" or "SM2 PRIVATE KEY" (`openssl ec`), and "PUBLIC KEY" — each unencrypted
// PEM holding a key on the SM2 curve.
// KeyError codes: notPem, encrypted, notSm2, damaged, publicOnly.
import smCrypto from 'sm-crypto';
import jsbn from 'jsbn';

const sm2 = smCrypto.sm2;
const { BigInteger } = jsbn;
const OID_EC = '2a8648ce3d0201'; // 1.2.840.10045.2.1 id-ecPublicKey
const OID_SM2 = '2a811ccf5501822d'; // 1.2.156.10197.1.301 the SM2 curve
const SPKI_PREFIX = '3059301306072a8648ce3d020106082a811ccf5501822d034200';
const N = new BigInteger('FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123', 16);

export class KeyError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

// One DER element at pos: {tag, start (of the contents), end}.
function tlv(b, pos, end = b.length) {
  if (pos + 2 > end) throw new KeyError('damaged');
  const tag = b[pos];
  let len = b[pos + 1];
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3 || p + n > end) throw new KeyError('damaged');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++];
  }
  if (p + len > end) throw new KeyError('damaged');
  return { tag, start: p, end: p + len };
}
// The children of a constructed element.
function children(b, el) {
  const out = [];
  for (let p = el.start; p < el.end; ) {
    const c = tlv(b, p, el.end);
    out.push(c);
    p = c.end;
  }
  return out;
}
const body = (b, el) => b.subarray(el.start, el.end);

function unpem(text) {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) throw new KeyError('notPem');
  if (/ENCRYPTED/.test(m[1]) || /Proc-Type:\s*4,ENCRYPTED/.test(m[2])) throw new KeyError('encrypted');
  let raw;
  try {
    raw = atob(m[2].replace(/\s+/g, ''));
  } catch {
    throw new KeyError('notPem');
  }
  return { label: m[1], der: Uint8Array.from(raw, (c) => c.charCodeAt(0)) };
}

// SEC1 ECPrivateKey: SEQUENCE {INTEGER 1, OCTET STRING d, [0] curve?, [1] BIT STRING pub?}
function sec1(b, el, curveKnown) {
  const [ver, d, ...rest] = children(b, el);
  if (!ver || ver.tag !== 0x02 || !d || d.tag !== 0x04 || d.end - d.start > 32 || d.end === d.start)
    throw new KeyError('damaged');
  let curve = curveKnown;
  let pub = null;
  for (const x of rest) {
    const [inner] = children(b, x);
    if (x.tag === 0xa0 && inner?.tag === 0x06) curve = hex(body(b, inner)) === OID_SM2;
    if (x.tag === 0xa1 && inner?.tag === 0x03) pub = hex(body(b, inner).subarray(1));
  }
  if (!curve) throw new KeyError('notSm2');
  const dHex = hex(body(b, d)).padStart(64, '0');
  const dInt = new BigInteger(dHex, 16);
  if (dInt.signum() <= 0 || dInt.compareTo(N.subtract(BigInteger.ONE)) >= 0) throw new KeyError('damaged');
  const derived = sm2.getPublicKeyFromPrivateKey(dHex);
  if (pub && pub.toLowerCase() !== derived.toLowerCase()) throw new KeyError('damaged');
  return { kind: 'private', d: dHex, pub: derived };
}

// AlgorithmIdentifier of an SM2 key: {id-ecPublicKey, sm2} (or the SM2 OID alone).
function isSm2Alg(b, el) {
  const [alg, param] = children(b, el);
  if (!alg || alg.tag !== 0x06) return false;
  const a = hex(body(b, alg));
  return (a === OID_EC && param?.tag === 0x06 && hex(body(b, param)) === OID_SM2) || a === OID_SM2;
}

/** Parse a PEM key file's text; throws KeyError. */
export function readKey(text) {
  const { label, der } = unpem(String(text));
  const top = tlv(der, 0);
  if (top.tag !== 0x30) throw new KeyError('damaged');
  const parts = children(der, top);
  if (label === 'PUBLIC KEY') {
    const [alg, bits] = parts;
    if (!alg || alg.tag !== 0x30 || !bits || bits.tag !== 0x03) throw new KeyError('damaged');
    if (!isSm2Alg(der, alg)) throw new KeyError('notSm2');
    const pub = hex(body(der, bits).subarray(1));
    if (pub.length !== 130 || !pub.startsWith('04') || !sm2.verifyPublicKey(pub)) throw new KeyError('damaged');
    return { kind: 'public', pub };
  }
  if (label === 'EC PRIVATE KEY' || label === 'SM2 PRIVATE KEY') return sec1(der, top, false);
  if (label === 'PRIVATE KEY') {
    const [ver, alg, key] = parts;
    if (!ver || ver.tag !== 0x02 || !alg || alg.tag !== 0x30 || !key || key.tag !== 0x04) throw new KeyError('damaged');
    if (!isSm2Alg(der, alg)) throw new KeyError('notSm2');
    return sec1(der, tlv(der, key.start, key.end), true);
  }
  throw new KeyError('notPem');
}

/** The SubjectPublicKeyInfo PEM of a key (private or public). */
/** Read a key file the user picked (PEM, at most 16 KiB): what readKey makes of it. */
export async function readKeyFile(file) {
  if (file.size > 16384) throw new KeyError('notPem');
  return readKey(await file.text());
}

export function publicPem(key) {
  const der = SPKI_PREFIX + key.pub.toLowerCase();
  const b64 = btoa(String.fromCharCode(...der.match(/../g).map((h) => parseInt(h, 16))));
  return `-----BEGIN PUBLIC KEY-----\n${b64.match(/.{1,64}/g).join('\n')}\n-----END PUBLIC KEY-----\n`;
}

/** An SM3 fingerprint of the public key's DER, as the server shows it (lower-case hex). */
export function fingerprint(key) {
  return smCrypto.sm3((SPKI_PREFIX + key.pub.toLowerCase()).match(/../g).map((h) => parseInt(h, 16)));
}

// The signature's one-time number k from the browser's CSPRNG (512 bits reduced mod n-1,
// so the bias is negligible), not from sm-crypto's own RC4-based generator.
function freshPoint() {
  const r = new Uint8Array(64);
  crypto.getRandomValues(r);
  const kp = sm2.generateKeyPairHex(hex(r), 16);
  return { k: new BigInteger(kp.privateKey, 16), x1: new BigInteger(kp.publicKey.slice(2, 66), 16) };
}

/** Sign text (UTF-8) with a private key: SM2 with SM3 and signer ID signerId; the DER
 *  signature in lower-case hex, as POST /api/v1/auth/cert/login wants it. */
export function sign(key, text, signerId = '1234567812345678') {
  if (key.kind !== 'private') throw new KeyError('publicOnly');
  return sm2.doSignature(text, key.d, {
    der: true,
    hash: true,
    publicKey: key.pub,
    userId: signerId,
    pointPool: [freshPoint(), freshPoint()],
  });
}
